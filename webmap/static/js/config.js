// The page's settings, written into the page by the server (planner_web.pages.map_page):
// the URLs of the API, the basemap, whether analysis runs are allowed, the language and
// its message catalogue.
export const cfg = JSON.parse(document.getElementById("page-config").textContent);
