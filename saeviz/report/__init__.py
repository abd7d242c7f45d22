"""What a person reads: the reproduction report (build, render, claims), the paper's published numbers,
plotly figures, export (PNG/SVG/PDF/HTML, tables, the comparison pack) and the guided tour.

May import: pipeline/ and everything below it; never cli/, ui/ or streamlit.
"""
