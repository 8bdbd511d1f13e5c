/* Charts on screen are drawn first; a chart off screen is drawn when it comes near the
 * screen or when the browser is next idle.
 *
 * Why: a pillar page holds nine charts, and Plotly takes 20-30 ms to draw each one here,
 * so a switch of force or period (layouts/_live.py) that redrew them all at once kept
 * the new view off the screen for a quarter of a second. dcc.Graph draws through
 * Plotly.react and waits on its promise, so wrapping Plotly.react is enough: the
 * promise resolves once the chart has been drawn, whenever that is. A later figure for
 * the same chart replaces one still waiting, and a chart no longer in the page is not
 * drawn at all. Before the page is printed, every chart still waiting is drawn.
 */
(function () {
    "use strict";
    // A chart on the screen, even in part, is drawn at once (its promise held until it
    // is); one within NEAR px of the screen's edges is drawn just after the new view is
    // painted (the observer's margin), so it is ready before it is scrolled to.
    const NEAR = 200;
    const waiting = new Map();  // chart element -> {draw, done}

    // Whether each chart met so far was on the screen at the last frame drawn, as an
    // observer saw it: asking the chart itself (getBoundingClientRect) in the middle of
    // a switch made the browser lay the page out again for every chart, each time
    // with the previous chart's new drawing to place (a fifth of the work between a
    // pillar page's answer and its paint, nine charts). A switch keeps every chart
    // where it was (layouts/_shell.py keeps an undrawn chart's height).
    const shown = new Map();  // chart element -> on the screen at the last frame
    const where = new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
            shown.set(entry.target, entry.isIntersecting);
        });
    });

    // Charts of pages left behind: no longer observed or held (an observer is told
    // nothing of a chart taken off the page while it was off the screen).
    function forgetCharts() {
        shown.forEach(function (_, element) {
            if (!element.isConnected) {
                shown.delete(element);
                where.unobserve(element);
            }
        });
    }

    function onScreen(element) {
        if (shown.has(element)) {
            return shown.get(element);
        }
        forgetCharts();  // a chart not met before: a new page, or a page drawn anew
        where.observe(element);  // from the next frame on
        const box = element.getBoundingClientRect();
        const height = window.innerHeight || document.documentElement.clientHeight;
        return box.bottom > 0 && box.top < height;
    }

    function drawNow(element) {
        const job = waiting.get(element);
        if (!job) {
            return;
        }
        waiting.delete(element);
        seen.unobserve(element);
        job.done(element.isConnected ? job.draw() : undefined);
    }

    const seen = new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
            if (entry.isIntersecting) {
                drawNow(entry.target);
            }
        });
    }, {rootMargin: NEAR + "px 0px"});

    const idle = window.requestIdleCallback || function (callback) {
        return window.setTimeout(callback, 50);
    };

    function drawWhenIdle() {
        idle(function () {
            const next = waiting.keys().next();
            if (!next.done) {
                drawNow(next.value);  // one chart per idle moment: input stays quick
                drawWhenIdle();
            }
        }, {timeout: 1000});
    }

    // Before the page is printed, every chart still waiting is drawn: a printed page
    // shows them all, wherever the screen was.
    window.addEventListener("beforeprint", function () {
        Array.from(waiting.keys()).forEach(drawNow);
    });

    function wrap(plotly) {
        if (!plotly || plotly.flightdeckInViewFirst) {
            return plotly;
        }
        const react = plotly.react.bind(plotly);
        plotly.react = function (chart) {
            const args = arguments;
            const element = typeof chart === "string" ? document.getElementById(chart) : chart;
            if (!element || !element.isConnected || onScreen(element)) {
                return react.apply(null, args);
            }
            const earlier = waiting.get(element);
            if (earlier) {
                earlier.done(undefined);  // superseded by this figure
            }
            return new Promise(function (resolve) {
                waiting.set(element, {draw: function () { return react.apply(null, args); },
                                      done: resolve});
                seen.observe(element);
                drawWhenIdle();
            });
        };
        plotly.flightdeckInViewFirst = true;
        return plotly;
    }

    // Dash loads Plotly only when a page first holds a chart: wrap it as it arrives.
    let current = wrap(window.Plotly);
    Object.defineProperty(window, "Plotly", {
        configurable: true,
        get: function () { return current; },
        set: function (value) { current = wrap(value); },
    });
})();
