"""Thin QThread workers that run experiments and forward what they write as Qt signals
(DESIGN.md, contract 4). No science and no widgets here."""
