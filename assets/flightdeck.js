// The flight deck's clientside callbacks, called from Python with
// dash.ClientsideFunction("flightdeck", NAME). Dash serves this file from assets/ with
// the stylesheets and loads it before its renderer starts: no inline script, nothing
// from another site.
//
// The theme's names are the Python ones (web.context.THEME_COOKIE, DARK and LIGHT;
// layouts._shell.THEME_TOGGLE): tests/test_app.py checks they agree.
window.dash_clientside = window.dash_clientside || {};
window.dash_clientside.flightdeck = {
    // "My force" (layouts/_shell.py): the force a person last chose is kept in local
    // storage; a page opened with no force in its address opens on it (if the menu
    // offers it: a scoped account's menu does not offer other forces), by putting it in
    // the address. An address that names a force always wins.
    rememberForce: function (value, options, search) {
        const key = "flightdeck-force";
        const noUpdate = window.dash_clientside.no_update;
        // Dash calls this both when a person picks a force and when a page draws its
        // menu (as a change of the new menu's value), so a pick is told apart by the
        // person's hand: a press or key in the force menu or its open list a moment
        // ago (flightdeckForceTouched, below), and a value the menu did not show before.
        const touched = performance.now() - (window.flightdeckForceTouched || -1e9) < 5000;
        const byUser = touched && value !== window.flightdeckLastForce;
        window.flightdeckLastForce = value;
        const params = new URLSearchParams(search || "");
        if (byUser || params.has("force")) {
            if (value) { window.localStorage.setItem(key, value); }
            return noUpdate;
        }
        const stored = window.localStorage.getItem(key);
        const offered = (options || []).some(o => o.value === stored);
        if (!stored || stored === value || !offered) { return noUpdate; }
        params.set("force", stored);
        return "?" + params.toString();
    },

    // The theme (layouts/_shell.py): the switch's choice is kept in a cookie (read by
    // the page layouts, which draw figures for it) and in local storage (so it survives
    // the cookie being cleared), and applied to <html data-bs-theme>. Figures are drawn
    // on the server for a theme, so a change reloads the page, and the focus goes back
    // to the switch.
    theme: function (on, stored) {
        const name = "flightdeck_theme";
        const read = () => {
            const pair = document.cookie.split("; ").find(c => c.startsWith(name + "="));
            return pair ? pair.slice(name.length + 1) : undefined;
        };
        const write = theme => {
            document.cookie = name + "=" + theme + "; path=/; max-age=31536000; SameSite=Lax";
        };
        const apply = theme => document.documentElement.setAttribute("data-bs-theme", theme);
        const focusKey = "flightdeck-theme-focus";
        const chosen = on ? "dark" : "light";
        const ctx = window.dash_clientside.callback_context;
        const byUser = (ctx.triggered || []).some(t => t.prop_id === "theme-toggle.value");
        if (byUser) {
            write(chosen);
            apply(chosen);
            if (read() === chosen) {
                window.sessionStorage.setItem(focusKey, "1");
                window.location.reload();
            }
            return chosen;
        }
        // Page load: the cookie drew the page; if it was lost, the stored choice wins.
        if (read() === undefined && stored && stored !== chosen) {
            write(stored);
            apply(stored);
            if (read() === stored) { window.location.reload(); }
            return stored;
        }
        if (read() === undefined) { write(chosen); }
        apply(chosen);
        if (window.sessionStorage.getItem(focusKey)) {
            window.sessionStorage.removeItem(focusKey);
            window.setTimeout(() => document.getElementById("theme-toggle")?.focus(), 0);
        }
        return chosen;
    },

    // Keyboard and screen reader repairs for the whole app (layouts/_shell.py),
    // installed once per page load:
    // - Dash 4's dcc.Dropdown puts an aria-hidden, focusable input before its button
    //   (a focus relay), which axe rightly reports; the button itself is made the tab
    //   stop and named by its visible label as well as its value.
    // - dcc.Upload's file input gets the accessible name of its drop zone.
    // - Choosing a force re-renders the page, which removes the focused control and
    //   drops the focus on <body>: the focus goes back to the new control with the
    //   same id.
    a11y: function (_) {
        if (window.flightdeckA11y) { return "on"; }
        window.flightdeckA11y = true;
        let lastFocused = null;
        document.addEventListener("focusin", event => {
            if (event.target && event.target.id) { lastFocused = event.target; }
        });
        const repairDropdowns = () => {
            document.querySelectorAll(".dash-dropdown-focus-target").forEach(relay => {
                if (relay.tabIndex !== -1) { relay.tabIndex = -1; }
            });
            document.querySelectorAll("button.dash-dropdown").forEach(button => {
                if (button.tabIndex !== 0 && !button.disabled) { button.tabIndex = 0; }
                const label = button.id && document.querySelector(`label[for="${button.id}"]`);
                if (!label) { return; }
                if (!label.id) { label.id = button.id + "-label"; }
                const names = (button.getAttribute("aria-labelledby") || "").split(" ");
                if (!names.includes(label.id)) {
                    button.setAttribute("aria-labelledby",
                                        [label.id, ...names].join(" ").trim());
                }
            });
        };
        // dcc.Upload's file input has no label of its own: name it by its drop zone.
        const labelUploads = () => {
            document.querySelectorAll("input[type=file]:not([aria-label])").forEach(input => {
                const zone = input.closest("[data-upload-label]");
                input.setAttribute("aria-label",
                    zone ? zone.getAttribute("data-upload-label") : "Choose files");
            });
        };
        const restoreFocus = () => {
            const active = document.activeElement;
            if (lastFocused && !lastFocused.isConnected
                    && (!active || active === document.body)) {
                const again = document.getElementById(lastFocused.id);
                if (again) {
                    lastFocused = again;
                    again.focus({preventScroll: true});
                }
            }
        };
        new MutationObserver(() => { repairDropdowns(); labelUploads(); restoreFocus(); })
            .observe(document.body, {childList: true, subtree: true, attributes: true,
                                     attributeFilter: ["tabindex"]});
        repairDropdowns();
        labelUploads();
        return "on";
    },

    // The view controls (layouts/_shell.py: controls_to_url): the address they ask
    // for, at once when the router is to draw the page, after the next paint when the
    // view was drawn in place (layouts/_live.py).
    searchAfterPaint: function (asked) {
        if (!asked || typeof asked.search !== "string") {
            return window.dash_clientside.no_update;
        }
        if (!asked.in_place) {
            return asked.search;
        }
        return new Promise(function (resolve) {
            window.requestAnimationFrame(function () {
                window.setTimeout(function () { resolve(asked.search); }, 0);
            });
        });
    },

    // A pillar page (layouts/pillar.py: tables_follow_the_view): after a switch drawn
    // in place, the view to rebuild the open tables for, or nothing (no request) when
    // none of them has been built. A new object each time: the same view asked again
    // still rebuilds.
    tablesToRefill: function (asked, bodies) {
        if (!asked || !asked.in_place || typeof asked.search !== "string" ||
                !(bodies || []).some(function (body) { return Boolean(body); })) {
            return window.dash_clientside.no_update;
        }
        return {search: asked.search, in_place: true, at: Date.now()};
    },

    // The definitions page (layouts/definitions.py): keep the search text in the URL
    // without re-rendering the page (which would take the focus away from the search
    // box mid-word): replace the history entry in place.
    searchToUrl: function (value) {
        const url = new URL(window.location.href);
        const query = (value || "").trim();
        if (query) { url.searchParams.set("q", query); } else { url.searchParams.delete("q"); }
        if (url.href !== window.location.href) {
            window.history.replaceState(window.history.state, "", url.href);
        }
    },

    // The definitions page: the browser looks for the #kpi-... anchor before Dash has
    // drawn the page, so jump to it (and move the focus there) once the list is on
    // screen. Dash runs a callback with no output only when its input changes, never on
    // first render, so this one records the anchor it went to.
    jumpToAnchor: function (_) {
        const target = decodeURIComponent(window.location.hash.slice(1));
        const element = target ? document.getElementById(target) : null;
        if (!element) {
            return "";
        }
        element.scrollIntoView({behavior: "instant", block: "start"});
        element.focus({preventScroll: true});
        return target;
    },
};

// A view switched in place (layouts/_live.py) is recorded in the live-view store, and
// the router leaves that URL alone. Going Back or Forward must draw the page again
// whatever URL it reaches, so the record is dropped before Dash's locations hear of
// the move (this listener is added before theirs).
window.addEventListener("popstate", function () {
    if (window.dash_clientside && window.dash_clientside.set_props) {
        window.dash_clientside.set_props("live-view", {data: null});
    }
});

// When a person last pressed or typed in the force menu or in the list it opened (the
// list is drawn outside the menu's element), for rememberForce above.
(function () {
    let listIsForces = false;
    function touched(event) {
        const target = event.target;
        if (!target || !target.closest) {
            return;
        }
        if (target.closest(".dash-dropdown-content")) {
            if (listIsForces) {
                window.flightdeckForceTouched = performance.now();
            }
            return;
        }
        const control = target.closest("[id^=control-]");
        // (The menu's parts have ids of their own: control-force-value, ...)
        listIsForces = Boolean(control) && /^control-force(-|$)/.test(control.id);
        if (listIsForces) {
            window.flightdeckForceTouched = performance.now();
        }
    }
    document.addEventListener("pointerdown", touched, true);
    document.addEventListener("keydown", touched, true);
})();
