// Readiness forms: show and hide questions as answers change (show_if), keep the progress count
// current, and move focus to the error summary. The server is the judge: it recomputes all of this
// and drops answers to hidden questions; this only spares a round trip.
(function () {
  "use strict";
  var form = document.getElementById("readiness-form");
  if (!form) return;
  var questions = Array.prototype.slice.call(form.querySelectorAll(".question"));

  function answerOf(name) {
    var inputs = form.querySelectorAll('[name="' + name + '"]');
    var values = [];
    var kind = "";
    inputs.forEach(function (input) {
      kind = input.type;
      if ((input.type === "checkbox" || input.type === "radio") && !input.checked) return;
      if (input.type === "hidden") return;
      if (input.value !== "") values.push(input.value);
    });
    if (kind === "checkbox" && inputs.length > 1) return values;   // a group of choices: a list
    var value = values.length ? values[values.length - 1] : null;
    if (value === "true") return true;
    if (value === "false") return false;
    if (value !== null && (kind === "number") && value.trim() !== "" && !isNaN(Number(value))) return Number(value);
    return value;
  }

  function holds(check, answer) {
    var op = check.op, v = check.value;
    var missing = answer === null || answer === "" || (Array.isArray(answer) && answer.length === 0);
    if (op === "exists") return (!missing) === Boolean(v);
    if (["contains", "not_contains", "any_in", "none_in"].indexOf(op) >= 0) {
      var given = Array.isArray(answer) ? answer : [];
      if (op === "contains") return given.indexOf(v) >= 0;
      if (op === "not_contains") return given.indexOf(v) < 0;
      if (op === "any_in") return v.some(function (x) { return given.indexOf(x) >= 0; });
      return !v.some(function (x) { return given.indexOf(x) >= 0; });
    }
    if (missing || Array.isArray(answer)) return false;  // as engine/showif.py: never on a missing answer
    switch (op) {
      case "eq": return answer === v;
      case "ne": return answer !== v;
      case "in": return v.indexOf(answer) >= 0;
      case "not_in": return v.indexOf(answer) < 0;
      case "lt": return answer < v;
      case "lte": return answer <= v;
      case "gt": return answer > v;
      case "gte": return answer >= v;
    }
    return false;
  }

  function update() {
    var shown = {};
    function isShown(el) {
      var name = el.id.slice(2);
      if (name in shown) return shown[name];
      shown[name] = true;  // guards a cycle (the server refuses cycles at load)
      var rule = el.getAttribute("data-show-if");
      var result = true;
      if (rule) {
        JSON.parse(rule).forEach(function (check) {
          var dep = document.getElementById("q-" + check.field);
          if (!dep || !isShown(dep) || !holds(check, answerOf(check.field))) result = false;
        });
      }
      shown[name] = result;
      return result;
    }
    var total = 0, answered = 0;
    questions.forEach(function (el) {
      var visible = isShown(el) || el.classList.contains("has-error");
      el.hidden = !visible;
      if (visible) {
        total += 1;
        var a = answerOf(el.id.slice(2));
        if (!(a === null || a === "" || (Array.isArray(a) && a.length === 0))) answered += 1;
      }
    });
    var text = document.getElementById("progress-text");
    var bar = document.getElementById("progress-bar");
    if (text) text.textContent = answered + " of " + total + " questions answered";
    if (bar) { bar.max = total; bar.value = answered; }
  }

  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
  // a link in the error summary moves focus into the question, not only the scroll position
  document.querySelectorAll(".error-summary a[href^='#']").forEach(function (link) {
    link.addEventListener("click", function (event) {
      var target = document.getElementById(link.getAttribute("href").slice(1));
      if (!target) return;
      event.preventDefault();
      target.focus();
      target.scrollIntoView({ block: "center" });
    });
  });
  var summary = document.getElementById("error-summary") || document.getElementById("success-summary");
  if (summary) summary.focus();
})();
