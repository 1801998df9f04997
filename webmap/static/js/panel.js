// The side panel at phone width: folded away behind one button so that the map has the screen,
// opened over the map's lower part; the zoom buttons move to the bottom right, clear of pop-ups.
import { el } from "./dom.js";
import { M } from "./i18n.js";
import { map } from "./map.js";

const PHONE = window.matchMedia("(max-width: 700px)");

function setOpen(open) {
  const button = el("panel-toggle");
  document.body.classList.toggle("panel-open", open);
  button.setAttribute("aria-expanded", open ? "true" : "false");
  button.textContent = open ? M.panel_hide : M.panel_show;
}

function place() {
  map.zoomControl.setPosition(PHONE.matches ? "bottomright" : "topleft");
  // Pop-ups open clear of the panel button at the top left.
  L.Popup.prototype.options.autoPanPaddingTopLeft = PHONE.matches ? L.point(10, 66) : null;
  map.invalidateSize();
}

export function initPanel() {
  el("panel-toggle").addEventListener("click", function () {
    setOpen(!document.body.classList.contains("panel-open"));
  });
  PHONE.addEventListener("change", place);
  place();
  setOpen(false);
}
