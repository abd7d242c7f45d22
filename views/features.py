"""Feature browser: one latent of one SAE variant, its contexts, and the same latent across variants.

The variant and the latent live in the URL (site, layer, compression, variant, latent; n = evaluation
sequences when not all), so a shared link reopens the same view. Statistics are read from the cache
(computed once, on request); nothing here runs the model unless a Compute button is pressed.
"""

import streamlit as st

from saeviz.errors import SaevizError
from saeviz.features.diff import RANKINGS, MatchSpec, rank_latents, unmatched_reference
from saeviz.features.stats import FeatureSpec
from saeviz.pipeline import feature_jobs as fj
from saeviz.sae.variants import VariantSpec
from saeviz.specs import SITES, CompressSpec
from ui.cached import page_sites, page_workbench, progress_bar, site_name
from ui.feature_view import (
    cached_changes,
    cached_tables,
    cached_vocabulary,
    contexts_html,
    histogram_figure,
    logit_frame,
)
from ui.navigation import PAGE_PARAMS

VARIANTS = ["dense", "pretrained", "pruned10", "pruned25", "pruned50", "pruned75", "pruned90", "pruned_best", "retrained"]
COMPRESSIONS = ["wanda-50%", "wanda-30%", "magnitude-50%", "wanda-2:4", "rtn-int8-g128-sym", "rtn-int4-g128-sym"]
PARAMS = PAGE_PARAMS["Feature browser"]  # the latent shown, kept in the URL so a link opens it
MATCH = MatchSpec()


def _initial_state(n_layers: int) -> None:
    """Widget state from the URL on a session's first visit (else from the last visit), checked."""
    if "fb_site" in st.session_state:
        return
    given = {k: st.query_params[k] for k in PARAMS if k in st.query_params} or st.session_state.get("fb_saved", {})
    defaults = {"site": "resid", "layer": n_layers - 1, "compression": "wanda-50%", "variant": "pretrained", "latent": 0, "n": 0}
    state = dict(defaults)
    try:
        state.update({k: (int(v) if k in ("layer", "latent", "n") else str(v)) for k, v in given.items()})
        CompressSpec.parse(state["compression"])
        VariantSpec.parse(state["variant"])
        if state["site"] not in SITES or not 0 <= state["layer"] < n_layers or state["latent"] < 0 or state["n"] < 0:
            raise ValueError(f"site must be one of {SITES}, layer 0..{n_layers - 1}, latent and n non-negative")
    except ValueError as exc:
        st.warning(f"The link's parameters were not understood ({exc}); showing the defaults.")
        state = defaults
    state["variant"] = VariantSpec.parse(state["variant"]).label()
    for k, v in state.items():
        st.session_state[f"fb_{k}"] = v


def _set(**values) -> None:
    for k, v in values.items():
        st.session_state[f"fb_{k}"] = v


def _select_from(table_key: str, latents_key: str) -> None:
    rows = st.session_state[table_key]["selection"]["rows"]
    if rows:
        _set(latent=int(st.session_state[latents_key][rows[0]]))


def _picker_table(df, key: str) -> None:
    st.session_state[f"{key}_latents"] = df["latent"].tolist()
    st.dataframe(df, hide_index=True, width="stretch", height=300, key=key, on_select=lambda: _select_from(key, f"{key}_latents"),
                 selection_mode="single-row")


def _compute(what: str, fn) -> None:
    try:
        fn(progress_bar(what))
    except (SaevizError, ValueError) as exc:
        st.error(str(exc))
        return
    st.rerun()


st.title("Feature browser")
bench, n_layers = page_workbench()
_initial_state(n_layers)

cols = st.columns([1, 1, 1.4, 1.4, 1])
sites = page_sites(bench)
if st.session_state.get("fb_site") not in sites:
    st.session_state["fb_site"] = sites[0]
cols[0].selectbox("Site", sites, key="fb_site", format_func=lambda s: site_name(bench, s))
cols[1].selectbox("Layer", list(range(n_layers)), key="fb_layer")
compressions = COMPRESSIONS + [c for c in [st.session_state.fb_compression] if c not in COMPRESSIONS]
cols[2].selectbox("Model compression", compressions, key="fb_compression", help="The compressed model every variant but dense runs on.")
variants = VARIANTS + [v for v in [st.session_state.fb_variant] if v not in VARIANTS]
cols[3].selectbox("SAE variant", variants, key="fb_variant",
                  help="dense: the pretrained SAE on the dense model (reference); pretrained: the same SAE on the compressed model; "
                       "prunedNN: that SAE with NN% of its weights pruned; pruned_best: the BestRule's pick; retrained: trained anew.")
cols[4].number_input("Sequences (0: all)", 0, 100_000, key="fb_n", help=FeatureSpec.__dataclass_fields__["n_sequences"].metadata["help"])

site, layer = st.session_state.fb_site, st.session_state.fb_layer
compress, variant = CompressSpec.parse(st.session_state.fb_compression), VariantSpec.parse(st.session_state.fb_variant)
spec = FeatureSpec(n_sequences=st.session_state.fb_n or None)
where = (compress, site, layer)
tables = cached_tables(bench, fj.stats_key(bench, *where, variant, spec))
if tables is None:
    st.info(f"The statistics of the {variant.label()} SAE at {site} layer {layer} are not computed yet "
            "(one pass over the evaluation tokens; about 20 s on the embedded default, longer when the variant needs "
            "compressing, pruning or, for retrained, training first).")
    if st.button("Compute statistics", type="primary"):
        _compute("feature statistics", lambda p: fj.feature_tables(bench, *where, variant, spec, p))
    st.stop()

n_latents = len(tables.latents)
st.session_state.fb_latent = min(int(st.session_state.fb_latent), n_latents - 1)
vocab = cached_vocabulary(bench)
ref = fj.reference_of(variant)


def changes_of(v: VariantSpec):
    return cached_changes(bench, fj.changes_key(bench, *where, v, spec, MATCH)) if fj.reference_of(v) else None


left, right = st.columns([1, 2.2])
with left:
    nav = st.columns([1, 1.4, 1], vertical_alignment="bottom")
    nav[0].button("◀", key="fb_prev", width="stretch", on_click=lambda: _set(latent=(st.session_state.fb_latent - 1) % n_latents), shortcut="ArrowLeft",
                  help="Previous latent (left arrow)")
    nav[1].number_input("Latent", 0, n_latents - 1, key="fb_latent")
    nav[2].button("▶", key="fb_next", width="stretch", on_click=lambda: _set(latent=(st.session_state.fb_latent + 1) % n_latents), shortcut="ArrowRight",
                  help="Next latent (right arrow)")
    search_tab, rank_tab = st.tabs(["Search", "Rankings"])
    with search_tab:
        query = st.text_input("Top tokens, logit tokens or concept", key="fb_query").strip().lower()
        lat = tables.latents
        if query:
            text = (lat["top_tokens"] + "|" + lat.get("logit_pos", "") + "|" + lat.get("concept", "")).str.lower()
            lat = lat[text.str.contains(query, regex=False)]
        _picker_table(lat[["latent", "name", "density"]].head(200), "fb_search_table")
    with rank_tab:
        by = st.selectbox("Ranking", RANKINGS, key="fb_rank", format_func=lambda r: r.replace("_", " "))
        changes = changes_of(variant)
        if by == "density":
            ranked = rank_latents(tables.latents[["latent", "density"]], "density", 200)
        elif ref is None:
            ranked = None
            st.caption("The dense reference is what the others are compared with: pick another variant for this ranking.")
        elif changes is None:
            ranked = None
            if st.button(f"Compare with {ref.label()}", help="One pass over the same tokens with both SAEs."):
                _compute("changes", lambda p: fj.latent_changes(bench, *where, variant, spec, MATCH, p))
        else:
            ranked = rank_latents(changes, by, 200)
            ref_tables = cached_tables(bench, fj.stats_key(bench, *where, ref, spec))
            if ref_tables is not None:  # what each latent was in the reference (a dead one has no name of its own)
                names = ref_tables.latents["name"].to_numpy()
                ranked[f"in {ref.label()}"] = [names[i] if i >= 0 else "" for i in ranked["ref_latent"]]
            if by == "unmatched" and ref_tables is not None:
                lost = unmatched_reference(changes, len(ref_tables.latents))
                st.caption(f"{len(lost)} {ref.label()} latents pair with none of this SAE's" + (f": {lost[:30].tolist()}" if len(lost) else "."))
        if ranked is not None:
            ranked = ranked.merge(tables.latents[["latent", "name"]], on="latent", how="left")
            shown = [c for c in ("latent", "name", "density", "corr", "cosine", "density_ref", f"in {ref.label() if ref else ''}")
                     if c in ranked]
            _picker_table(ranked[shown], "fb_rank_table")

latent = int(st.session_state.fb_latent)
record = fj.latent_record(tables, vocab, latent)
st.query_params.update({"site": site, "layer": str(layer), "compression": compress.label(), "variant": variant.label(),
                        "latent": str(latent), **({"n": str(spec.n_sequences)} if spec.n_sequences else {})})
if not spec.n_sequences and "n" in st.query_params:
    del st.query_params["n"]
st.session_state["fb_saved"] = {k: st.session_state[f"fb_{k}"] for k in PARAMS}

with right:
    st.subheader(f"Latent {latent}: {record['name'] or '(never fires)'}")
    m = st.columns(4)
    m[0].metric("Density", f"{record['density']:.4%}", help=f"{record['n_active']} of {int(tables.arrays['n_kept'][0])} tokens")
    m[1].metric("Mean when active", f"{record['mean_active']:.3f}")
    m[2].metric("Max", f"{record['max_act']:.3f}")
    m[3].metric("Label", record["label"] or "-", help="Its top tokens, by summed activation over its top contexts.")
    if record.get("concept"):
        scores = (f"precision {record['concept_precision']:.2f}, recall {record['concept_recall']:.2f}, "
                  f"F1 {record['concept_f1']:.2f}")
        if record["concept_f1"] >= spec.min_concept_f1:
            st.caption(f"Tracks the toy-world concept **{record['concept']}** ({scores})")
        else:
            st.caption(f"No toy-world concept (closest: {record['concept']}, {scores})")
    own = changes_of(variant)
    if own is not None:
        row = own.iloc[latent].to_dict()
        removed = row["enc_removed"] == row["enc_removed"]  # NaN: weights are not comparable (retrained)
        st.caption(f"vs {ref.label()}: latent {int(row['ref_latent'])} (decoder cosine {row['cosine']:.3f}), activation correlation "
                   f"{row['corr']:.3f}, density {row['density_ref']:.4%} → {row['density']:.4%}"
                   + (", **dead after compression**" if row["dead_after"] else "")
                   + (", **its whole decoder row was pruned** (it fires but writes nothing)" if row["decoder_gone"] else "")
                   + (f", weights removed: encoder {row['enc_removed']:.0%}, decoder {row['dec_removed']:.0%}" if removed else ""))
    tabs = st.tabs(["Top contexts", "Quantile samples", "Histogram & logits", "Across variants"])
    with tabs[0]:
        st.html(contexts_html(record["top_contexts"], record["max_act"]))
    with tabs[1]:
        for band in reversed(record["quantiles"]):
            st.markdown(f"**Band {band['band'] + 1}/{len(record['quantiles'])}**: activations {band['low']:.3f} to {band['high']:.3f}")
            st.html(contexts_html(band["examples"], record["max_act"]))
    with tabs[2]:
        st.plotly_chart(histogram_figure(record), width="stretch")
        lc = st.columns(2)
        lc[0].dataframe(logit_frame(record, "positive"), hide_index=True, width="stretch")
        lc[1].dataframe(logit_frame(record, "negative"), hide_index=True, width="stretch")
    with tabs[3]:
        pruned = variant.label() if variant.kind == "pruned" else "pruned25"
        others = [VariantSpec.parse(v) for v in ("pretrained", pruned, "retrained") if v != variant.label()]
        for box, other in zip(st.columns(len(others)), others):
            with box:
                cp = fj.counterpart(bench, *where, variant, latent, other, spec, MATCH, changes_of=changes_of)
                st.markdown(f"**{other.label()}**")
                other_tables = cached_tables(bench, fj.stats_key(bench, *where, other, spec))
                if cp["latent"] is None or other_tables is None:
                    st.caption(cp["status"] if cp["latent"] is None else "statistics not computed")
                    help_text = "Trains an SAE on the compressed model first (minutes)." if other.kind == "retrained" else None
                    if st.button("Compute", key=f"fb_compute_{other.label()}", help=help_text):
                        _compute(other.label(), lambda p, o=other: (fj.feature_tables(bench, *where, o, spec, p),
                                                                    fj.latent_changes(bench, *where, o, spec, MATCH, p)))
                    continue
                rec = fj.latent_record(other_tables, vocab, cp["latent"])
                st.caption(f"latent {cp['latent']}, decoder cosine {cp['cosine']:.3f}: {rec['name'] or '(never fires)'}, "
                           f"density {rec['density']:.4%}")
                st.button("Open", key=f"fb_open_{other.label()}", on_click=_set, kwargs={"variant": other.label(), "latent": cp["latent"]})
                st.html(contexts_html(rec["top_contexts"][:5], rec["max_act"]))
