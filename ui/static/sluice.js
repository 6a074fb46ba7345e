// Sluice UI: the little the server cannot do. Live run graphs from the run's server-sent
// events, the task panel, foldable graph groups, local times, and form conveniences.
// No build step; htmx (vendored) does the fetching of fragments.
(function () {
  "use strict";

  var TERMINAL = { SUCCEEDED: 1, FAILED: 1, CANCELED: 1, SKIPPED: 1 };
  var statusTable = {};

  function readStatusTable() {
    var node = document.getElementById("status-table");
    if (node) {
      try { statusTable = JSON.parse(node.textContent || "{}"); } catch (e) { statusTable = {}; }
    }
  }

  function statusOf(state, cached) {
    if (cached && statusTable.CACHED) return statusTable.CACHED;
    return statusTable[state] || statusTable.RUNTIME_STATE_UNSPECIFIED || { label: state, icon: "?", css: "state-none" };
  }

  function setStateClass(el, css) {
    var keep = [];
    el.classList.forEach(function (c) { if (c.indexOf("state-") !== 0) keep.push(c); });
    el.setAttribute("class", keep.concat([css]).join(" "));
  }

  // --- local times -----------------------------------------------------------------------
  function localizeTimes(root) {
    var format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      if (el.dataset.localized) return;
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when.getTime())) {
        el.title = el.textContent;
        el.textContent = format.format(when);
        el.dataset.localized = "1";
      }
    });
  }

  // --- forms -------------------------------------------------------------------------------
  function wireForms(root) {
    root.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      if (select.dataset.wired) return;
      select.dataset.wired = "1";
      select.addEventListener("change", function () {
        if (select.id === "pick-pipeline") {
          var version = document.getElementById("pick-version");
          if (version) version.disabled = true;  // another pipeline: its latest version
        }
        if (select.form.requestSubmit) select.form.requestSubmit(); else select.form.submit();
      });
    });
    root.querySelectorAll("form[data-confirm]").forEach(function (form) {
      if (form.dataset.wired) return;
      form.dataset.wired = "1";
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
  }

  // --- graphs --------------------------------------------------------------------------------
  function Graph(container) {
    this.container = container;
    this.url = container.dataset.graphUrl;
    this.pending = null;
    this.inFlight = false;
    this.again = false;
  }

  Graph.prototype.collapsed = function () {
    var scroll = this.container.querySelector(".graph-scroll");
    var raw = scroll ? scroll.dataset.collapsed || "" : "";
    return raw ? raw.split(",") : [];
  };

  Graph.prototype.refresh = function (collapsed) {
    var self = this;
    if (self.inFlight) { self.again = true; return; }
    self.inFlight = true;
    var list = collapsed || self.collapsed();
    var url = self.url + "?collapsed=" + encodeURIComponent(list.join(","));
    fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html !== null) {
          var focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.key || document.activeElement.dataset.toggle : null;
          self.container.innerHTML = html;
          markSelected();
          if (focused) {
            var again = self.container.querySelector('[data-key="' + CSS.escape(focused) + '"], [data-toggle="' + CSS.escape(focused) + '"]');
            if (again) again.focus();
          }
        }
      })
      .finally(function () {
        self.inFlight = false;
        if (self.again) { self.again = false; self.refresh(); }
      });
  };

  Graph.prototype.soon = function () {
    var self = this;
    if (self.pending) return;
    self.pending = window.setTimeout(function () { self.pending = null; self.refresh(); }, 250);
  };

  Graph.prototype.toggle = function (key) {
    var list = this.collapsed();
    var at = list.indexOf(key);
    if (at >= 0) list.splice(at, 1); else list.push(key);
    this.refresh(list);
  };

  // --- live logs -----------------------------------------------------------------------------
  // A running task's log is streamed from the API (`?follow=true`) into its <pre>; one stream
  // at a time, stopped when the log view is replaced or the page is left.
  var LOG_KEEP = 2 * 1024 * 1024;  // characters kept on screen; older ones are dropped
  var logStream = null;

  function stopLogStream() {
    if (logStream) { logStream.abort(); logStream = null; }
  }

  function followLog(pre) {
    stopLogStream();
    var controller = new AbortController();
    logStream = controller;
    var decoder = new TextDecoder();
    var status = pre.parentNode.querySelector(".log-status");
    function append(text) {
      if (!text) return;
      var atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24;
      var all = pre.textContent + text;
      pre.textContent = all.length > LOG_KEEP ? all.slice(all.length - LOG_KEEP) : all;
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    }
    function ended(message) {
      if (logStream === controller) logStream = null;
      if (status) status.textContent = message;
      pre.dataset.followed = "done";
    }
    fetch(pre.dataset.followUrl, { credentials: "same-origin", signal: controller.signal })
      .then(function (response) {
        if (!response.ok || !response.body) { ended("The log cannot be followed (HTTP " + response.status + ")."); return null; }
        var reader = response.body.getReader();
        function pump() {
          return reader.read().then(function (step) {
            if (step.done) { append(decoder.decode()); ended("The attempt has ended; this is its whole log."); return null; }
            if (!document.body.contains(pre)) { controller.abort(); return null; }
            append(decoder.decode(step.value, { stream: true }));
            return pump();
          });
        }
        return pump();
      })
      .catch(function (error) {
        if (error && error.name === "AbortError") return;
        ended("The log stream was interrupted; reopen the task to resume.");
      });
  }

  function wireLogs() {
    var pre = document.querySelector("pre[data-follow-url]");
    if (!pre) { stopLogStream(); return; }
    if (!pre.dataset.followed) {
      pre.dataset.followed = "live";
      followLog(pre);
    }
  }

  // --- the run page --------------------------------------------------------------------------
  var runPage = null;
  var graph = null;
  var selectedTask = "";
  var panelTimer = null;

  function markSelected() {
    document.querySelectorAll("#graph .selected").forEach(function (el) {
      el.classList.remove("selected");
      el.removeAttribute("aria-pressed");
    });
    if (!selectedTask) return;
    document.querySelectorAll('#graph [data-task-id="' + CSS.escape(selectedTask) + '"]').forEach(function (el) {
      el.classList.add("selected");
      if (el.getAttribute("role") === "button") el.setAttribute("aria-pressed", "true");
    });
  }

  function openTask(taskId, focusPanel) {
    if (!runPage || !taskId) return;
    selectedTask = taskId;
    markSelected();
    var url = "/runs/" + encodeURIComponent(runPage.dataset.runId) + "/tasks/" + encodeURIComponent(taskId);
    window.htmx.ajax("GET", url, { target: "#task-panel", swap: "innerHTML" }).then(function () {
      if (focusPanel) {
        var title = document.getElementById("task-title");
        if (title) { title.setAttribute("tabindex", "-1"); title.focus(); }
      }
    });
  }

  function refreshPanelSoon(taskId) {
    if (taskId !== selectedTask) return;
    if (panelTimer) window.clearTimeout(panelTimer);
    panelTimer = window.setTimeout(function () { panelTimer = null; openTask(selectedTask, false); }, 300);
  }

  function applyTaskEvent(event) {
    var elements = document.querySelectorAll('#graph [data-task-id="' + CSS.escape(event.task_id) + '"]');
    if (!elements.length) {
      // A task the graph has not drawn yet (a new iteration, a task just created).
      if (graph) graph.soon();
      return;
    }
    var status = statusOf(event.state || "", !!event.cached);
    elements.forEach(function (el) {
      setStateClass(el, status.css);
      var icon = el.querySelector(".icon");
      if (icon) icon.textContent = status.icon;
      var text = el.querySelector(".node-state");
      if (text && el.classList.contains("node") && !el.classList.contains("group-folded")) text.textContent = status.label;
      var label = el.getAttribute("aria-label");
      if (label) el.setAttribute("aria-label", label.replace(/: [^:]*$/, ": " + status.label));
    });
    refreshPanelSoon(event.task_id);
  }

  function applyRunEvent(event) {
    var holder = document.getElementById("run-status");
    if (holder && event.state) {
      var status = statusOf(event.state, false);
      holder.dataset.state = event.state;
      var badge = holder.querySelector(".badge");
      if (badge) {
        setStateClass(badge, status.css);
        badge.classList.add("badge");
        badge.dataset.state = event.state;
        badge.querySelector(".icon").textContent = status.icon;
        badge.querySelector(".badge-text").textContent = status.label;
      }
    }
    if (TERMINAL[event.state]) {
      if (graph) graph.soon();
      document.body.dispatchEvent(new CustomEvent("run-finished"));
    }
  }

  function follow(runId) {
    if (!window.EventSource) return;
    var live = document.getElementById("live-indicator");
    var source = new EventSource("/apis/v2beta1/runs/" + encodeURIComponent(runId) + "/events");
    var finishedAt = null;
    source.onopen = function () { if (live) live.textContent = "● Live"; };
    source.onerror = function () { if (live) live.textContent = finishedAt ? "" : "Reconnecting…"; };
    source.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if (event.kind === "TASK_STATE_CHANGED") applyTaskEvent(event);
      else if (event.kind === "RUN_STATE_CHANGED") {
        applyRunEvent(event);
        finishedAt = TERMINAL[event.state] ? Date.now() : null;
      }
    };
    window.addEventListener("pagehide", function () { source.close(); });
  }

  function onGraphActivate(event) {
    var toggle = event.target.closest("[data-toggle]");
    if (toggle && graph) {
      event.preventDefault();
      graph.toggle(toggle.dataset.toggle);
      return;
    }
    var node = event.target.closest("[data-task-id]");
    if (node && runPage) {
      event.preventDefault();
      openTask(node.dataset.taskId, event.type === "keydown");
    }
  }

  function wireGraph() {
    var container = document.getElementById("graph");
    if (!container) return;
    graph = new Graph(container);
    container.addEventListener("click", onGraphActivate);
    container.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") onGraphActivate(event);
    });
  }

  function wirePanel() {
    var panel = document.getElementById("task-panel");
    if (!panel) return;
    panel.addEventListener("click", function (event) {
      if (event.target.closest("[data-close-panel]")) {
        var previous = selectedTask;
        selectedTask = "";
        markSelected();
        stopLogStream();
        panel.innerHTML = '<p class="muted">Select a task in the graph to see its inputs, outputs, logs and artifacts.</p>';
        var node = document.querySelector('#graph [data-task-id="' + CSS.escape(previous) + '"][role="button"]');
        if (node) node.focus();
        return;
      }
      var link = event.target.closest("[data-select-task]");
      if (link && link.dataset.selectTask) {
        event.preventDefault();
        openTask(link.dataset.selectTask, true);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    readStatusTable();
    localizeTimes(document);
    wireForms(document);
    wireGraph();
    runPage = document.querySelector(".run-page[data-run-id]");
    if (runPage) {
      wirePanel();
      follow(runPage.dataset.runId);
      if (runPage.dataset.selectedTask) openTask(runPage.dataset.selectedTask, false);
    }
    document.body.addEventListener("htmx:afterSettle", function (event) {
      localizeTimes(event.target);
      wireForms(event.target);
      wireLogs();
    });
    window.addEventListener("pagehide", stopLogStream);
  });
})();
