// The YAML editor: CodeMirror on the textarea (the textarea works alone without JS), problem lines
// marked, and the links in the problem list jump to their line.
(function () {
  "use strict";
  var area = document.getElementById("yaml");
  if (!area || typeof CodeMirror === "undefined") return;
  var editor = CodeMirror.fromTextArea(area, {
    mode: "yaml",
    lineNumbers: true,
    indentUnit: 2,
    tabSize: 2,
    indentWithTabs: false,
    readOnly: area.hasAttribute("readonly"),
    extraKeys: { Tab: function (cm) { cm.replaceSelection("  "); } },
    gutters: ["pa-errors", "CodeMirror-linenumbers"],
    screenReaderLabel: "YAML text"
  });
  var lines = [];
  try { lines = JSON.parse(area.getAttribute("data-errors") || "[]"); } catch (e) { lines = []; }
  lines.forEach(function (line) {
    var index = line - 1;
    editor.addLineClass(index, "wrap", "cm-pa-error-line");
    var mark = document.createElement("span");
    mark.className = "pa-gutter-error";
    mark.textContent = "●";
    mark.title = "a problem on this line";
    editor.setGutterMarker(index, "pa-errors", mark);
  });
  function jump(line) {
    editor.focus();
    editor.setCursor({ line: line - 1, ch: 0 });
    editor.scrollIntoView({ line: line - 1, ch: 0 }, 120);
  }
  document.querySelectorAll("[data-line]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      jump(parseInt(link.getAttribute("data-line"), 10));
    });
  });
  if (lines.length) jump(lines[0]);
  var problems = document.getElementById("problems");
  if (problems) problems.focus();
  var tried = document.getElementById("tried");
  if (tried && !problems) tried.focus();
})();
