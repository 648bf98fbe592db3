"""Files the window loads at start (style sheet); a package so an install ships them."""

import os

STYLE_SHEET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "style.qss")
