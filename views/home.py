"""Home: what saeviz asks, where each page answers it, and the model and SAEs in use.

Renders before anything heavy is imported: the embedded default's summary was saved with the shipped
demo data, so a fresh start shows it without loading the model; any other model loads behind a spinner
after the rest of the page is drawn."""

import streamlit as st

from saeviz.errors import SaevizError
from saeviz.specs import EMBEDDED_SAE_TEMPLATE
from ui import icons
from ui.sidebar import current_specs

st.title("saeviz")
st.caption("Do sparse autoencoders trained on a language model still interpret it once it is pruned or quantized?")
st.markdown(
    "An SAE trained on the original model can be **applied as is** to the compressed one, **pruned** itself "
    "(its own encoder and decoder weights, cheaply), or **retrained** on the compressed model (expensively). "
    "These pages compare the three on the model below."
)
# a wrapping row: each link as wide as its label, so none is cut off in a narrow window
with st.container(horizontal=True, wrap=True, gap="medium"):
    st.page_link("views/compress.py", label="Compress the model", icon=icons.COMPRESS)
    st.page_link("views/sweep.py", label="SAE sparsity sweep", icon=icons.SWEEP)
    st.page_link("views/layers.py", label="Layer-wise curves", icon=icons.LAYERS)
    st.page_link("views/evals.py", label="Evaluations", icon=icons.EVALS)
    st.page_link("views/tour.py", label="Guided tour (no waiting)", icon=icons.TOUR)

try:
    model_spec, sae_specs = current_specs()
except (SaevizError, ValueError) as exc:
    st.error(str(exc))
    st.stop()
cards = st.columns([2.2, 1, 1, 1, 1])
summary = None
if model_spec.is_embedded and sae_specs is None:
    from saeviz.store import demo

    summary = demo.summary()  # saved with the demo data; no model load
if summary is None:
    from ui.cached import summary_for

    try:
        template = st.session_state.get("sae_template") or EMBEDDED_SAE_TEMPLATE
        summary = summary_for(model_spec, tuple(sae_specs) if sae_specs is not None else None, template.strip())
    except (SaevizError, ValueError) as exc:
        st.error(str(exc))
        st.stop()

m = summary["model"]
cards[0].metric("Model", m["name"])
cards[1].metric("Layers", m["layers"])
cards[2].metric("d_model", m["d_model"])
cards[3].metric("Parameters", f"{m['parameters'] / 1e6:.2f} M")
device_card = cards[4].empty()
st.caption(f"{m['heads']} heads x d_head {m['d_head']}, d_mlp {m['d_mlp']}, vocabulary {m['d_vocab']:,}, context {m['n_ctx']}, {m['dtype']}")

import pandas as pd  # noqa: E402  (after the first cards are on screen)

from saeviz.report.plots import sae_coverage_figure  # noqa: E402

SAE_COLUMNS = ["sae", "site", "layer", "architecture", "d_in", "d_sae", "hook", "fits"]
saes = pd.DataFrame(summary["saes"]).reindex(columns=SAE_COLUMNS)  # an SAE that did not load has its reason only
if len(saes):
    st.plotly_chart(sae_coverage_figure(saes, m["layers"]), width="stretch")
    st.subheader(f"{len(saes)} SAEs")
    st.dataframe(saes, hide_index=True, width="stretch")
else:
    st.info("No SAEs named: list some in the sidebar (one per line).")
with st.expander("Hook sites"):
    st.dataframe(pd.DataFrame(summary["sites"]), hide_index=True, width="stretch")

from saeviz.pipeline.info import device_info  # noqa: E402  (imports torch: last, so it never delays the page)

dev = device_info()
device_card.metric("Device", "GPU" if dev["gpu"] else "CPU", help=dev["device"])
