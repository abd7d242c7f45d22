"""Export pack: the figures ticked 'Add to pack' on any page, with their data and specs, as one zip whose
README says how to regenerate them with the CLI."""

import streamlit as st

from saeviz.errors import SaevizError
from saeviz.report.export import comparison_pack
from ui import icons
from ui.export_ui import pack

st.title("Export pack")
st.caption("Tick **Add to pack** under any figure; the zip holds each figure as PNG, SVG, PDF and self-contained HTML, "
           "the rows it plots (CSV, Parquet), the specs that produced it and a README with the CLI commands.")
items = pack()
if not items:
    st.info("The pack is empty: tick 'Add to pack' under the figures you want to share.")
    st.stop()
for name, item in list(items.items()):
    row = st.columns([6, 1])
    row[0].markdown(f"**{item.title}**  \n`{name}` · {0 if item.data is None else len(item.data)} rows · "
                    f"{len(item.cli)} CLI command(s)")
    if row[1].button("Remove", key=f"pack_rm_{name}"):
        items.pop(name)
        st.session_state.pop(st.session_state.get("pack_boxes", {}).get(name, ""), None)  # untick its checkbox
        st.rerun()


if st.button("Build the zip", type="primary", key="pack_build"):
    try:
        with st.spinner(f"Rendering {len(items)} figure(s) in four formats..."):
            st.session_state["pack_zip"] = comparison_pack(list(items.values()))
    except SaevizError as exc:
        st.error(str(exc))
if st.session_state.get("pack_zip"):
    st.download_button("Download comparison-pack.zip", st.session_state["pack_zip"], file_name="comparison-pack.zip",
                       mime="application/zip", icon=icons.DOWNLOAD, key="pack_download", on_click="ignore")
