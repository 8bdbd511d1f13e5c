/* HtmlBlock: one Dash component holding a block of markup built and escaped on the
 * server (layouts/_markup.py, layouts/_html_block.py).
 *
 * Why: Dash's renderer spends most of a view switch walking component trees (a
 * flight deck of 36 tiles was 448 components). Static markup (tiles, tables, the
 * summary matrix) as one component costs the renderer one prop. When the markup
 * changes, Idiomorph (00-idiomorph.min.js) morphs it into the page in place, so only
 * the text, images and attributes that differ are touched and the tiles stay the same
 * elements (focus and open disclosures survive).
 *
 * Links inside a block carry data-link and navigate as a dcc.Link does: the history
 * entry is pushed and Dash's locations are told, so the page changes without a reload.
 */
(function () {
    "use strict";
    const React = window.React;

    function HtmlBlock(props) {
        const ref = React.useRef(null);
        const shown = React.useRef(null);
        React.useLayoutEffect(function () {
            const node = ref.current;
            const markup = props.html || "";
            if (!node || shown.current === markup) {
                return;
            }
            if (shown.current === null) {
                node.innerHTML = markup;  // the first paint: nothing to morph
            } else {
                window.Idiomorph.morph(node, markup, {morphStyle: "innerHTML"});
            }
            shown.current = markup;
        }, [props.html]);
        const attributes = {ref: ref, className: props.className};
        if (typeof props.id === "string") {
            attributes.id = props.id;
        }
        return React.createElement("div", attributes);
    }

    window.flightdeck_components = Object.assign(window.flightdeck_components || {},
                                                 {HtmlBlock: HtmlBlock});

    // A click on a block's link: navigate within the app, as dcc.Link does.
    document.addEventListener("click", function (event) {
        if (event.defaultPrevented || event.button !== 0 || event.metaKey ||
                event.ctrlKey || event.shiftKey || event.altKey) {
            return;
        }
        const link = event.target.closest ? event.target.closest("a[data-link]") : null;
        if (!link || (link.target && link.target !== "_self")) {
            return;
        }
        event.preventDefault();
        window.history.pushState({}, "", link.getAttribute("href"));
        window.dispatchEvent(new CustomEvent("_dashprivate_pushstate"));
        window.scrollTo(0, 0);
    });
})();
