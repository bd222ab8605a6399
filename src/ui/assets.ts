import { createHash } from 'node:crypto';

/**
 * The web catalog's stylesheet and script, compiled into the server: nothing is fetched from
 * outside the machine, and the pages' Content-Security-Policy allows only these two files.
 */
const CSS = `
:root { --fg: #1b1f24; --muted: #57606a; --bg: #ffffff; --line: #d0d7de; --accent: #0a57c2;
  --soft: #f3f5f8; --bad: #a40e26; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg); line-height: 1.45; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, main:focus-visible {
  outline: 3px solid #f59e0b; outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; background: var(--bg); padding: .5rem; }
.skip:focus { left: .5rem; z-index: 10; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.top { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; padding: .75rem 1rem;
  border-bottom: 1px solid var(--line); background: var(--soft); }
.brand { font-weight: 700; font-size: 1.2rem; text-decoration: none; color: var(--fg); }
.top nav ul { display: flex; gap: 1rem; list-style: none; margin: 0; padding: 0; flex-wrap: wrap; }
.top nav a[aria-current] { font-weight: 700; color: var(--fg); }
.who { margin-left: auto; display: flex; gap: .75rem; align-items: center; flex-wrap: wrap; }
.who form { margin: 0; }
main { padding: 1rem; max-width: 72rem; margin: 0 auto; }
h1 { font-size: 1.6rem; margin: .5rem 0 1rem; overflow-wrap: anywhere; }
h2 { font-size: 1.25rem; margin: 1.5rem 0 .5rem; }
h3 { font-size: 1.05rem; margin: 0 0 .5rem; }
.ver { color: var(--muted); font-weight: 400; }
.muted { color: var(--muted); }
.error { color: var(--bad); }
.note { background: var(--soft); border-left: 4px solid var(--accent); padding: .5rem .75rem; }
.empty { color: var(--muted); font-style: italic; }
.crumbs { font-size: .9rem; color: var(--muted); overflow-wrap: anywhere; }
.search, .signin { display: flex; flex-wrap: wrap; gap: .75rem; align-items: flex-end; margin-bottom: 1rem; }
.field { display: flex; flex-direction: column; gap: .2rem; min-width: 8rem; }
.field.grow { flex: 1 1 14rem; }
.field.actions { flex-direction: row; gap: .75rem; align-items: center; }
label { font-size: .85rem; font-weight: 600; }
input, select, button { font: inherit; padding: .4rem .55rem; border: 1px solid #8c959f; border-radius: 4px; background: var(--bg); color: var(--fg); }
button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
button.link { background: none; border: none; color: var(--accent); text-decoration: underline; padding: 0; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin-bottom: 1rem; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { background: var(--soft); font-size: .9rem; }
tbody th { font-weight: 600; }
.badge { display: inline-block; padding: .05rem .45rem; border-radius: 999px; font-size: .8rem;
  font-weight: 600; border: 1px solid currentColor; background: var(--bg); }
.badge-published, .badge-succeeded { color: #116329; }
.badge-draft, .badge-queued, .badge-pending { color: #57606a; }
.badge-publishing, .badge-running { color: #0a57c2; }
.badge-withdrawn, .badge-cancelled, .badge-skipped { color: #6e4b00; }
.badge-failed { color: var(--bad); }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0 0 1rem; }
.facts dt { font-weight: 600; }
.facts dd { margin: 0; overflow-wrap: anywhere; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: .88rem; overflow-wrap: anywhere; }
.artifact { border: 1px solid var(--line); border-radius: 6px; padding: .75rem 1rem; margin-bottom: 1rem; }
.cmd { display: grid; grid-template-columns: 1fr auto; gap: .25rem .5rem; align-items: center; margin-bottom: .75rem; }
.cmd-label { grid-column: 1 / -1; font-size: .85rem; font-weight: 600; }
.cmd pre { margin: 0; background: var(--soft); border: 1px solid var(--line); border-radius: 4px; padding: .45rem .6rem; overflow-x: auto; }
.timeline { list-style: none; padding: 0; margin: 0; border-left: 3px solid var(--line); }
.timeline li { padding: .4rem 0 .4rem 1rem; position: relative; }
.step-name { font-weight: 600; text-transform: capitalize; }
.pager { margin: 1rem 0; }
.foot { padding: 1rem; border-top: 1px solid var(--line); color: var(--muted); font-size: .9rem; text-align: center; }
@media (max-width: 40rem) {
  .facts { grid-template-columns: 1fr; }
  .facts dd { margin-bottom: .4rem; }
  .who { margin-left: 0; }
  th, td { padding: .4rem; }
}
`;

const JS = `'use strict';
document.addEventListener('click', function (event) {
  var button = event.target.closest && event.target.closest('button.copy');
  if (!button) return;
  var done = function (text) { button.textContent = text; setTimeout(function () { button.textContent = 'Copy'; }, 1500); };
  if (navigator.clipboard) navigator.clipboard.writeText(button.dataset.copy).then(function () { done('Copied'); }, function () { done('Select and copy'); });
  else done('Select and copy');
});
if (document.body.dataset.live) {
  var timer = setInterval(function () {
    fetch(location.href, { credentials: 'same-origin', cache: 'no-store' }).then(function (res) {
      if (!res.ok) return;
      return res.text().then(function (text) {
        var next = new DOMParser().parseFromString(text, 'text/html');
        var fresh = next.getElementById('live');
        var shown = document.getElementById('live');
        if (fresh && shown && fresh.innerHTML !== shown.innerHTML) shown.innerHTML = fresh.innerHTML;
        if (!next.body.dataset.live) clearInterval(timer);
      });
    }).catch(function () {});
  }, 1000);
}
`;

export interface Asset {
  readonly body: Buffer;
  readonly contentType: string;
}

const version = createHash('sha256').update(CSS).update(JS).digest('hex').slice(0, 12);

/** The version in the assets' names: a new build changes it, so they may be cached for good. */
export const ASSET_VERSION = version;

export const ASSETS: ReadonlyMap<string, Asset> = new Map([
  [`ui.${version}.css`, { body: Buffer.from(CSS), contentType: 'text/css; charset=utf-8' }],
  [`ui.${version}.js`, { body: Buffer.from(JS), contentType: 'text/javascript; charset=utf-8' }],
]);
