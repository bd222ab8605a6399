import type { AuditEventEntity } from '../../audit/audit-event.entity';
import type { Page } from '../../common/pagination';
import type { JobView } from '../../publish/publish.service';
import { formatTime, html, query, seg, type Html } from '../html';
import { badge, layout, pager, type PageContext } from '../layout';

const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
/** While a job is in one of these, its page refreshes itself. */
export const LIVE_JOB_STATES = new Set(['queued', 'running']);

function duration(from: Date | null, to: Date | null): string {
  if (!from || !to) return '';
  const ms = to.getTime() - from.getTime();
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function jobsPage(ctx: PageContext, state: string | undefined, page: Page<JobView>): Html {
  return layout(
    ctx,
    'jobs',
    'Publish jobs',
    html`<h1>Publish jobs</h1>
      <form class="search" method="get" action="/ui/jobs" aria-label="Filter jobs">
        <div class="field">
          <label for="f-state">State</label>
          <select id="f-state" name="state">
            <option value="">any</option>
            ${JOB_STATES.map((s) => html`<option value="${s}" ${s === state ? html` selected` : ''}>${s}</option>`)}
          </select>
        </div>
        <div class="field actions"><button type="submit">Filter</button></div>
      </form>
      <div id="live">
        ${
          page.items.length === 0
            ? html`<p class="empty">No publish jobs.</p>`
            : html`<div class="table-wrap">
                <table class="jobs">
                  <caption class="sr-only">
                    Publish jobs, newest first
                  </caption>
                  <thead>
                    <tr>
                      <th scope="col">Image</th>
                      <th scope="col">Version</th>
                      <th scope="col">State</th>
                      <th scope="col">Requested</th>
                      <th scope="col">Took</th>
                    </tr>
                  </thead>
                  <tbody>
                    ${page.items.map(
                      (j) =>
                        html`<tr data-job="${j.job.id}">
                          <th scope="row">
                            <a href="/ui/jobs/${seg(j.job.id)}">${j.imageName}</a>
                          </th>
                          <td>${j.version}</td>
                          <td>${badge(j.job.state)}</td>
                          <td>${formatTime(j.job.createdAt)}</td>
                          <td>${duration(j.job.startedAt, j.job.finishedAt)}</td>
                        </tr>`,
                    )}
                  </tbody>
                </table>
              </div>`
        }
      </div>
      ${pager((cursor) => `/ui/jobs${query({ state, cursor })}`, page.nextCursor)}`,
    // New jobs appear while the page is open.
    { live: true },
  );
}

export function jobPage(ctx: PageContext, view: JobView): Html {
  const { job, steps } = view;
  const versionHref = `/ui/images/${seg(view.imageName)}/versions/${seg(view.version)}`;
  return layout(
    ctx,
    'jobs',
    `Publish ${view.imageName} ${view.version}`,
    html`<nav class="crumbs" aria-label="Breadcrumb">
        <a href="/ui/jobs">Publish jobs</a> › <span aria-current="page">${job.id}</span>
      </nav>
      <div id="live" aria-live="polite">
        <h1>
          Publish <a href="${versionHref}">${view.imageName} ${view.version}</a>
          <span class="job-state">${badge(job.state)}</span>
        </h1>
        <dl class="facts">
          <dt>Requested</dt>
          <dd>${formatTime(job.createdAt)}</dd>
          <dt>Started</dt>
          <dd>${formatTime(job.startedAt)}</dd>
          <dt>Finished</dt>
          <dd>${formatTime(job.finishedAt)}</dd>
          ${
            job.failureMessage
              ? html`<dt>Failure</dt>
                  <dd class="error">${job.failureMessage}</dd>`
              : ''
          }
        </dl>
        <h2>Steps</h2>
        <ol class="timeline">
          ${[...steps]
            .sort((a, b) => a.sequence - b.sequence)
            .map(
              (s) =>
                html`<li class="step step-${s.state}" data-step="${s.name}">
                  <span class="step-name">${s.name.replace(/_/g, ' ')}</span> ${badge(s.state)}
                  <span class="muted"
                    >${s.attemptCount > 1 ? `attempt ${s.attemptCount} · ` : ''}${duration(s.startedAt, s.finishedAt)}</span
                  >
                  ${s.failureMessage ? html`<div class="error">${s.failureMessage}</div>` : ''}
                </li>`,
            )}
        </ol>
      </div>`,
    { live: LIVE_JOB_STATES.has(job.state) },
  );
}

export function auditPage(
  ctx: PageContext,
  page: Page<AuditEventEntity>,
  filter: { action?: string; image?: string },
): Html {
  return layout(
    ctx,
    'audit',
    'Audit log',
    html`<h1>Audit log</h1>
      <form class="search" method="get" action="/ui/audit" aria-label="Filter the audit log">
        <div class="field">
          <label for="f-action">Action</label
          ><input id="f-action" name="action" value="${filter.action ?? ''}" maxlength="100" />
        </div>
        <div class="field">
          <label for="f-image">Image</label
          ><input id="f-image" name="image" value="${filter.image ?? ''}" maxlength="200" />
        </div>
        <div class="field actions"><button type="submit">Filter</button></div>
      </form>
      ${
        page.items.length === 0
          ? html`<p class="empty">No events.</p>`
          : html`<div class="table-wrap">
              <table class="audit">
                <caption class="sr-only">
                  Audit events, newest first
                </caption>
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">Who</th>
                    <th scope="col">Action</th>
                    <th scope="col">Target</th>
                    <th scope="col">Image</th>
                  </tr>
                </thead>
                <tbody>
                  ${page.items.map(
                    (e) =>
                      html`<tr>
                        <td>${formatTime(e.occurredAt)}</td>
                        <td>${e.principalName ?? html`<span class="muted">anonymous</span>`}</td>
                        <th scope="row">${e.action}</th>
                        <td>${e.targetType}${e.targetId ? ` ${e.targetId}` : ''}</td>
                        <td>${e.imageName ?? ''}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>`
      }
      ${pager((cursor) => `/ui/audit${query({ ...filter, cursor })}`, page.nextCursor)}`,
  );
}

export function signInPage(ctx: PageContext, failed: boolean): Html {
  return layout(
    ctx,
    'sign-in',
    'Sign in',
    html`<h1>Sign in</h1>
      <p>
        Sign in with an imgsrv API token to see unpublished content, private images and publish
        jobs. The token stays on the server: this browser keeps only a session cookie.
      </p>
      ${failed ? html`<p class="error" role="alert">That token is not valid: it is unknown, revoked or expired.</p>` : ''}
      <form method="post" action="/ui/sign-in" class="signin">
        <div class="field grow">
          <label for="token">API token</label>
          <input
            id="token"
            name="token"
            type="password"
            autocomplete="off"
            required
            maxlength="512"
            spellcheck="false"
          />
        </div>
        <div class="field actions"><button type="submit">Sign in</button></div>
      </form>`,
  );
}
