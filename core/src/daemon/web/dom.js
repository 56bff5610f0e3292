// Building DOM without markup strings: every text goes through
// textContent or an SVG text node, so nothing an orchestrator wrote can
// become an element, an attribute or a script.

const SVG_NS = "http://www.w3.org/2000/svg";

function apply(el, attrs) {
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value == null || value === false) continue;
    if (key === "text") el.textContent = String(value);
    else if (key === "class") el.setAttribute("class", String(value));
    else if (key.startsWith("on") || key === "style" || key === "srcdoc") {
      // Handlers are attached with addEventListener; inline styles are refused by the CSP.
      throw new Error(`dom: refusing attribute ${key}`);
    } else el.setAttribute(key, value === true ? "" : String(value));
  }
}

/** An HTML element: h("td", {class: "x", text: value}, child, …). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

/** An SVG element, same form as h(). */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

/** Appends children: elements, or anything else as a text node. */
export function append(el, children) {
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces every child of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}
