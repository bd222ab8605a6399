import { html, type Html } from './html';
import type { UiVisitor } from './ui-session.service';

export type Section = 'images' | 'jobs' | 'audit' | 'sign-in' | 'none';

export interface PageContext {
  readonly visitor: UiVisitor;
  /** Whether anonymous visitors may read published content (IMGSRV_PUBLIC_READ). */
  readonly publicRead: boolean;
  /** The asset version, so a new build's assets are fetched and old ones may be cached forever. */
  readonly assetVersion: string;
}

/** The page around every view: header, navigation, sign-in state, main content. */
export function layout(
  ctx: PageContext,
  section: Section,
  title: string,
  body: Html,
  options: { live?: boolean } = {},
): Html {
  const { principal, csrf } = ctx.visitor;
  const link = (href: string, label: string, here: boolean) =>
    html`<li><a href="${href}" ${here ? html` aria-current="page"` : ''}>${label}</a></li>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · imgsrv</title>
<link rel="stylesheet" href="/ui/assets/ui.${ctx.assetVersion}.css">
<script src="/ui/assets/ui.${ctx.assetVersion}.js" defer></script>
</head>
<body${options.live ? html` data-live="1"` : ''}>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="/ui">imgsrv</a>
  <nav aria-label="Main">
    <ul>
      ${link('/ui', 'Images', section === 'images')}
      ${principal ? link('/ui/jobs', 'Publish jobs', section === 'jobs') : ''}
      ${principal?.can('audit.read') ? link('/ui/audit', 'Audit log', section === 'audit') : ''}
    </ul>
  </nav>
  <div class="who">
    ${
      principal
        ? html`<span>Signed in as <strong>${principal.displayName}</strong></span>
            <form method="post" action="/ui/sign-out">
              <input type="hidden" name="csrf" value="${csrf ?? ''}" />
              <button type="submit" class="link">Sign out</button>
            </form>`
        : html`<a href="/ui/sign-in">Sign in</a>`
    }
  </div>
</header>
<main id="main" tabindex="-1">
${body}
</main>
<footer class="foot"><a href="/docs">API reference</a> · <a href="/streams/v1/index.json">Simple Streams index</a></footer>
</body>
</html>`;
}

/** A page that says what went wrong, with the status the API would answer. */
export function errorPage(ctx: PageContext, title: string, detail: string): Html {
  return layout(
    ctx,
    'none',
    title,
    html`<h1>${title}</h1>
      <p>${detail}</p>
      <p><a href="/ui">Back to the images</a></p>`,
  );
}

/** A state as a labelled badge (colour is never the only sign). */
export function badge(state: string): Html {
  return html`<span class="badge badge-${state}">${state}</span>`;
}

/** A one-line command with a copy button. */
export function command(label: string, text: string): Html {
  return html`<div class="cmd">
    <span class="cmd-label">${label}</span>
    <pre><code>${text}</code></pre>
    <button type="button" class="copy" data-copy="${text}" aria-label="Copy: ${label}">Copy</button>
  </div>`;
}

/** Next-page link for a cursor-paginated list. */
export function pager(href: (cursor: string) => string, nextCursor: string | null): Html {
  return nextCursor
    ? html`<nav class="pager" aria-label="Pages">
        <a rel="next" href="${href(nextCursor)}">Next page →</a>
      </nav>`
    : html``;
}
