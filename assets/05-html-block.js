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
    // The live blocks on the page (layouts/_live.py), by part name: what LiveMarkup
    // morphs. What a block shows is kept on its element (SHOWN), not in React: a
    // switch changes it without a new prop.
    const liveBlocks = new Map();
    const SHOWN = "__flightdeckShown";

    function show(node, markup) {
        if (node[SHOWN] === markup) {
            return;
        }
        if (node[SHOWN] === undefined) {
            node.innerHTML = markup;  // the first paint: nothing to morph
        } else {
            window.Idiomorph.morph(node, markup, {morphStyle: "innerHTML"});
        }
        node[SHOWN] = markup;
    }

    // A live block's part name, from its id: a dict id reaches a component as its JSON
    // ('{"part":"...","type":"live-html"}').
    function livePart(id) {
        if (typeof id !== "string" || id.charAt(0) !== "{") {
            return null;
        }
        try {
            const parsed = JSON.parse(id);
            return parsed.type === "live-html" ? String(parsed.part) : null;
        } catch (error) {
            return null;
        }
    }

    function HtmlBlock(props) {
        const ref = React.useRef(null);
        const part = React.useMemo(function () { return livePart(props.id); }, [props.id]);
        React.useLayoutEffect(function () {
            if (ref.current) {
                show(ref.current, props.html || "");
            }
        }, [props.html]);
        React.useLayoutEffect(function () {
            const node = ref.current;
            if (!part || !node) {
                return undefined;
            }
            liveBlocks.set(part, node);
            return function () {
                if (liveBlocks.get(part) === node) {
                    liveBlocks.delete(part);
                }
            };
        }, [part]);
        const attributes = {ref: ref, className: props.className};
        if (typeof props.id === "string") {
            attributes.id = props.id;
        }
        return React.createElement("div", attributes);
    }

    // New markup for many live blocks in one prop (layouts/_html_block.py: LiveMarkup).
    // A block's own html prop still wins when it changes (the router drew the page).
    function LiveMarkup(props) {
        React.useLayoutEffect(function () {
            const parts = props.parts || {};
            Object.keys(parts).forEach(function (part) {
                const node = liveBlocks.get(part);
                if (node) {
                    show(node, parts[part] || "");
                }
            });
        }, [props.parts]);
        return null;
    }

    window.flightdeck_components = Object.assign(window.flightdeck_components || {},
                                                 {HtmlBlock: HtmlBlock, LiveMarkup: LiveMarkup});

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
