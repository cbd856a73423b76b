/*
 * Report pages: keeps the rows of running reports up to date without reloading.
 *
 * The table (#report-table, with data-status-url) holds rows rendered by
 * templates/reports/_report_row.html: <tr data-report-id data-status> with
 * cells marked data-field="status|finished|progress|result". While any row is
 * Running, this asks the status URL about those rows every POLL_MS and rewrites
 * their cells; it stops once none is running. With data-reload-when-done (the
 * report's own page) it reloads when the report finishes, to show its figures.
 *
 * Plain script, no build step. Text from the server goes in with textContent
 * only, never as HTML: a failure reason may contain anything.
 */
(function () {
  "use strict";

  var POLL_MS = 1500;
  var RETRY_MS = 5000; // after a failed request: the server may be restarting
  var MAX_FAILURES = 10;

  var table = document.getElementById("report-table");
  if (!table || !table.dataset.statusUrl || !window.fetch) {
    return;
  }
  var announcer = document.getElementById("report-announcer");
  var failures = 0;
  var timer = null;

  function rowsById() {
    var rows = {};
    table.querySelectorAll("tr[data-report-id]").forEach(function (row) {
      rows[row.dataset.reportId] = row;
    });
    return rows;
  }

  function runningIds() {
    var ids = [];
    table.querySelectorAll('tr[data-report-id][data-status="Running"]').forEach(function (row) {
      ids.push(row.dataset.reportId);
    });
    return ids;
  }

  function cell(row, field) {
    return row.querySelector('[data-field="' + field + '"]');
  }

  function link(href, text, download) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    if (download) {
      a.setAttribute("download", "");
    }
    return a;
  }

  function announce(text) {
    if (announcer) {
      announcer.textContent = text;
    }
  }

  function setProgress(row, report) {
    var progress = cell(row, "progress");
    if (!progress) {
      return;
    }
    var percent = 0;
    if (report.status === "Complete") {
      percent = 100;
    } else if (report.stores_total > 0) {
      percent = Math.round((100 * report.stores_done) / report.stores_total);
    }
    var bar = progress.querySelector('[role="progressbar"]');
    if (bar) {
      bar.setAttribute("aria-valuenow", String(percent));
      bar.setAttribute("aria-valuetext", report.stores_done + " of " + report.stores_total + " stores");
      // An SVG attribute, not an inline style: the Content-Security-Policy allows no inline styles.
      var fill = bar.querySelector("rect");
      if (fill) {
        fill.setAttribute("width", String(percent));
      }
    }
    var text = progress.querySelector(".progress-text");
    if (text) {
      text.textContent = report.stores_done + " / " + report.stores_total;
    }
  }

  function setResult(row, report) {
    var result = cell(row, "result");
    if (!result) {
      return;
    }
    result.textContent = "";
    if (report.status === "Complete") {
      result.appendChild(link(report.detail_url, "View"));
      result.appendChild(document.createTextNode(" · "));
      result.appendChild(link(report.download_url, "Download CSV", true));
      result.appendChild(document.createTextNode(" "));
      var extended = link(report.download_url + "?columns=extended", "(extended)");
      extended.className = "extended-download";
      result.appendChild(extended);
    } else if (report.status === "Failed") {
      var reason = document.createElement("span");
      reason.className = "report-error";
      reason.textContent = report.error || "The report failed.";
      result.appendChild(reason);
    }
  }

  function update(row, report) {
    var finished = row.dataset.status === "Running" && report.status !== "Running";
    setProgress(row, report);
    if (!finished) {
      return;
    }
    row.dataset.status = report.status;
    var status = cell(row, "status");
    if (status) {
      status.textContent = "";
      var label = document.createElement("span");
      label.className = "report-status report-status-" + report.status.toLowerCase();
      label.textContent = report.status;
      status.appendChild(label);
    }
    var finishedCell = cell(row, "finished");
    if (finishedCell) {
      finishedCell.textContent = report.finished_at || "–";
    }
    setResult(row, report);
    var asOf = row.querySelector("th time");
    announce("The report as of " + (asOf ? asOf.textContent : "") + " UTC is " + report.status.toLowerCase() + ".");
    if (table.dataset.reloadWhenDone) {
      window.location.reload();
    }
  }

  function schedule(delay) {
    window.clearTimeout(timer);
    timer = window.setTimeout(poll, delay);
  }

  function poll() {
    var ids = runningIds();
    if (!ids.length) {
      return; // nothing running: stop until the page is loaded again
    }
    if (document.hidden) {
      return; // resumed by visibilitychange: no requests for a tab nobody looks at
    }
    var url = new URL(table.dataset.statusUrl, window.location.href);
    ids.forEach(function (id) {
      url.searchParams.append("id", id);
    });
    fetch(url.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        // A lapsed session is redirected to the login page: HTML, not JSON.
        var type = response.headers.get("Content-Type") || "";
        if (!response.ok || type.indexOf("application/json") === -1) {
          throw new Error("status request failed: " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        failures = 0;
        var rows = rowsById();
        var seen = {};
        data.reports.forEach(function (report) {
          seen[report.id] = true;
          if (rows[report.id]) {
            update(rows[report.id], report);
          }
        });
        // A report deleted meanwhile is not answered for: stop asking about it.
        ids.forEach(function (id) {
          if (!seen[id] && rows[id]) {
            rows[id].dataset.status = "Gone";
          }
        });
        schedule(POLL_MS);
      })
      .catch(function () {
        failures += 1;
        if (failures < MAX_FAILURES) {
          schedule(RETRY_MS);
        } else {
          announce("Progress updates stopped; reload the page to see the reports' state.");
        }
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      schedule(0);
    }
  });
  schedule(POLL_MS);
})();
