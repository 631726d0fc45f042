// A metadata form's fields as inputs: used by the portal page (where the
// sender answers) and by the form builder's preview.

// fieldInput returns a labelled input for one form field; the input
// carries data-field (the field's name) and data-type.
export function fieldInput(f) {
  const label = document.createElement("label");
  label.textContent = f.label + (f.visibility === "required" ? " (required) " : " ");
  let input;
  if (f.type === "long_text" || f.type === "package_description") {
    input = document.createElement("textarea");
  } else if ((f.type === "radio" || f.type === "dropdown") && f.options) {
    input = document.createElement("select");
    input.appendChild(document.createElement("option"));
    for (const o of f.options) {
      const opt = document.createElement("option");
      opt.value = o; opt.textContent = o;
      input.appendChild(opt);
    }
  } else if (f.type === "checkbox" && f.options && f.options.length) {
    input = document.createElement("select");
    input.multiple = true;
    for (const o of f.options) {
      const opt = document.createElement("option");
      opt.value = o; opt.textContent = o;
      input.appendChild(opt);
    }
  } else {
    input = document.createElement("input");
    input.type = { number: "number", date: "date", email: "email", sender_email: "email", url: "url", checkbox: "checkbox" }[f.type] || "text";
  }
  input.dataset.field = f.name;
  input.dataset.type = f.type;
  if (f.visibility === "required") input.required = true;
  if (f.visibility === "readonly") input.disabled = true;
  if (f.default_value !== undefined && f.default_value !== null && input.type !== "checkbox") input.value = f.default_value;
  label.appendChild(input);
  return label;
}
