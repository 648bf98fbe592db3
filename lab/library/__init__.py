"""The run library: every run file under a runs folder (sweep folders included) as one
record per run, cached in an SQLite index in the folder so that reopening it reads only
new or changed files; filter expressions over parameters and summaries; tags and notes
written back into finished run files; trash, archive and CSV export. No Qt here: the
browser's model and its background indexer wrap these."""
