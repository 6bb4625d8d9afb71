// Progressive enhancement of the leaderboard table: without this file the header links sort on the
// server and the "Show deprecated models" form reloads the page; with it both happen in place.

const table = document.getElementById("board");
if (table) {
  enhanceSorting(table);
  enhanceDeprecatedToggle(table);
}

function enhanceSorting(table) {
  const headers = [...table.tHead.querySelectorAll("th[data-sort-key]")];
  const ratingIndex = headers.find((th) => th.dataset.sortKey === "rating")?.cellIndex;
  for (const th of headers) {
    const link = th.querySelector("a");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "sort";
    button.textContent = link.textContent;
    link.replaceWith(button);
    button.addEventListener("click", () => {
      const current = th.getAttribute("aria-sort");
      const direction = current ? flip(current) : th.dataset.direction;
      for (const other of headers) other.removeAttribute("aria-sort");
      th.setAttribute("aria-sort", direction);
      sortRows(table, th.cellIndex, th.dataset.sortKey !== "model", direction, ratingIndex);
    });
  }
}

function flip(direction) {
  return direction === "ascending" ? "descending" : "ascending";
}

function sortRows(table, index, numeric, direction, ratingIndex) {
  const body = table.tBodies[0];
  const sign = direction === "ascending" ? 1 : -1;
  const value = (row, i) => row.cells[i].dataset.value;
  const compare = (a, b) => {
    const x = value(a, index);
    const y = value(b, index);
    const primary = numeric ? Number(x) - Number(y) : x.localeCompare(y, undefined, { sensitivity: "base" });
    if (primary !== 0 || ratingIndex === undefined) return sign * primary;
    return Number(value(b, ratingIndex)) - Number(value(a, ratingIndex)); // ties: best rated first
  };
  body.append(...[...body.rows].sort(compare));
}

function enhanceDeprecatedToggle(table) {
  const box = document.getElementById("show-deprecated");
  if (!box) return;
  const apply = box.form.querySelector("button.apply");
  if (apply) apply.hidden = true;
  box.addEventListener("change", () => {
    for (const row of table.tBodies[0].rows) {
      if (row.classList.contains("deprecated")) row.hidden = !box.checked;
    }
    // Keep the address in step, so a reload or a shared link (and the charts) match what is shown.
    const url = new URL(window.location.href);
    if (box.checked) url.searchParams.set("deprecated", "1");
    else url.searchParams.delete("deprecated");
    window.history.replaceState(null, "", url);
  });
}
