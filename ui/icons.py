"""The app's icons. Material Symbols come from the font Streamlit bundles; the page icon is a local
image, because Streamlit draws a Material Symbol favicon from fonts.gstatic.com (broken offline, a call
out online)."""

from pathlib import Path

APP = str(Path(__file__).with_name("favicon.png"))
HOME = ":material/home:"
COMPRESS = ":material/compress:"
SWEEP = ":material/tune:"
LAYERS = ":material/stacked_line_chart:"
EVALS = ":material/fact_check:"
FEATURES = ":material/manage_search:"
TOUR = ":material/slideshow:"
PACK = ":material/inventory_2:"
NEXT = ":material/arrow_forward:"
DOWNLOAD = ":material/download:"
IMAGE = ":material/image:"
TABLE = ":material/table:"
