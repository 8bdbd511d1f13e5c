// The Load data page's upload (layouts/upload.py; the routes are web/uploads.py).
//
// Files go to the server as they are, one request each, written to disk as they
// arrive, with the progress shown; never through a Dash callback, where a 45 MB
// workbook would travel base64 encoded inside JSON. Once every file has arrived the
// server starts checking them as a background job, and the page's callbacks follow it
// from the batch's token, which this script puts in the "upload-token" store.
//
// The element ids and data attributes are the ones layouts/upload.py gives the page.
(function () {
    "use strict";
    const ZONE = "upload-files";
    const set = (id, props) => window.dash_clientside.set_props(id, props);
    const megabytes = bytes => Math.floor(bytes / (1024 * 1024));

    function say(text, percent) {
        set("upload-status", {children: text});
        if (percent === undefined) {
            set("upload-bar", {className: "upload-bar mt-2 d-none", value: "0"});
        } else {
            set("upload-bar", {className: "upload-bar mt-2", value: String(percent)});
        }
    }

    // One request; resolves with the response text, rejects with the server's own
    // sentence (it always answers a refusal with one).
    function send(url, body, type, onProgress) {
        return new Promise((resolve, reject) => {
            const request = new XMLHttpRequest();
            request.open("POST", url);
            request.setRequestHeader("Content-Type", type);
            if (onProgress) {
                request.upload.onprogress = event => onProgress(event.loaded);
            }
            request.onload = () => (request.status < 300 ? resolve(request.responseText)
                : reject(new Error(request.responseText || "The server refused the upload.")));
            request.onerror = () => reject(new Error(
                "The upload was cut off: check the connection and upload again."));
            request.send(body);
        });
    }

    function refusal(zone, files) {
        const most = Number(zone.dataset.maxFiles);
        const largest = Number(zone.dataset.maxBytes);
        const accepted = zone.dataset.accept.split(",");
        if (files.length > most) {
            return "Upload at most " + most + " files at a time.";
        }
        for (const file of files) {
            const dot = file.name.lastIndexOf(".");
            const suffix = dot < 0 ? "" : file.name.slice(dot).toLowerCase();
            if (!accepted.includes(suffix)) {
                return file.name + ": upload CSV, XLSX or ODS files only.";
            }
            if (file.size > largest) {
                return file.name + " is larger than " + megabytes(largest) +
                    " MB, the most one file may be.";
            }
        }
        return null;
    }

    async function upload(zone, files) {
        if (!files.length) {
            return;
        }
        set("upload-token", {data: null});  // clears the last upload's report
        const refused = refusal(zone, files);
        if (refused) {
            say(refused);
            return;
        }
        try {
            const batch = JSON.parse(await send(zone.dataset.start, JSON.stringify({
                files: files.map(file => ({name: file.name, size: file.size}))
            }), "application/json"));
            const total = files.reduce((sum, file) => sum + file.size, 0) || 1;
            let sent = 0;
            for (let index = 0; index < files.length; index++) {
                const file = files[index];
                const shown = loaded => {
                    const percent = Math.min(100, Math.round(100 * (sent + loaded) / total));
                    say("Uploading " + file.name + " (" + (index + 1) + " of " +
                        files.length + "): " + percent + "%", percent);
                };
                shown(0);
                await send(batch.files[index], file, "application/octet-stream", shown);
                sent += file.size;
            }
            say("Uploaded: starting the check", 100);
            await send(batch.check, "", "application/json");
            set("upload-token", {data: batch.token});
        } catch (problem) {
            say(problem.message);
        }
    }

    function choose(zone) {
        const input = document.createElement("input");
        input.type = "file";
        input.multiple = true;
        input.accept = zone.dataset.accept;
        input.hidden = true;
        input.addEventListener("change", () => {
            const files = Array.from(input.files);
            input.remove();
            upload(zone, files);
        });
        input.addEventListener("cancel", () => input.remove());
        zone.appendChild(input);
        input.click();
    }

    // The page is drawn by Dash after this script runs: listen on the document.
    document.addEventListener("click", event => {
        const button = event.target.closest("#upload-choose");
        if (button) {
            choose(button.closest("#" + ZONE));
        }
    });
    for (const name of ["dragenter", "dragover"]) {
        document.addEventListener(name, event => {
            const zone = event.target.closest && event.target.closest("#" + ZONE);
            if (zone) {
                event.preventDefault();
                zone.classList.add("dragging");
            }
        });
    }
    document.addEventListener("dragleave", event => {
        const zone = event.target.closest && event.target.closest("#" + ZONE);
        if (zone) {
            zone.classList.remove("dragging");
        }
    });
    document.addEventListener("drop", event => {
        const zone = event.target.closest && event.target.closest("#" + ZONE);
        if (zone) {
            event.preventDefault();
            zone.classList.remove("dragging");
            upload(zone, Array.from(event.dataTransfer.files));
        }
    });
}());
