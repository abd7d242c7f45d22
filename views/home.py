"""Home: the loaded model (layers, width, parameters, hook sites), its SAEs, and the device."""

import pandas as pd
import streamlit as st

from saeviz.errors import SaevizError
from saeviz.info import device_info
from saeviz.plots import sae_coverage_figure
from ui.cached import summary_for
from ui.sidebar import current_specs

st.title("saeviz")
st.caption("Do sparse autoencoders trained on a language model still interpret it once it is pruned or quantized?")

try:
    model_spec, sae_specs = current_specs()
    summary = summary_for(model_spec, tuple(sae_specs) if sae_specs is not None else None)
except (SaevizError, ValueError) as exc:
    st.error(str(exc))
    st.stop()

m = summary["model"]
dev = device_info()
cols = st.columns([2.2, 1, 1, 1, 1])
cols[0].metric("Model", m["name"])
cols[1].metric("Layers", m["layers"])
cols[2].metric("d_model", m["d_model"])
cols[3].metric("Parameters", f"{m['parameters'] / 1e6:.2f} M")
cols[4].metric("Device", "GPU" if dev["gpu"] else "CPU", help=dev["device"])
st.caption(f"{m['heads']} heads x d_head {m['d_head']}, d_mlp {m['d_mlp']}, vocabulary {m['d_vocab']:,}, context {m['n_ctx']}, {m['dtype']}")

saes = pd.DataFrame(summary["saes"])
if len(saes):
    st.plotly_chart(sae_coverage_figure(saes, m["layers"]), use_container_width=True)
    st.subheader(f"{len(saes)} SAEs")
    st.dataframe(saes[["sae", "site", "layer", "architecture", "d_in", "d_sae", "hook", "fits"]], hide_index=True, use_container_width=True)
else:
    st.info("No SAEs named: list some in the sidebar (one per line).")

with st.expander("Hook sites"):
    st.dataframe(pd.DataFrame(summary["sites"]), hide_index=True, use_container_width=True)
