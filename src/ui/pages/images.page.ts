import { html, query, seg, type Html } from '../html';
import { layout, pager, type PageContext } from '../layout';
import type { FilterValues, ImageSearch, ImageSummary } from '../ui-catalog.queries';
import type { Page } from '../../common/pagination';

const TYPE_LABELS: Record<string, string> = {
  container: 'container',
  'virtual-machine': 'virtual machine',
};

function select(name: keyof FilterValues, label: string, values: string[], chosen?: string): Html {
  return html`<div class="field">
    <label for="f-${name}">${label}</label>
    <select id="f-${name}" name="${name}">
      <option value="">any</option>
      ${values.map(
        (v) =>
          html`<option value="${v}" ${v === chosen ? html` selected` : ''}>
            ${TYPE_LABELS[v] ?? v}
          </option>`,
      )}
    </select>
  </div>`;
}

function row(image: ImageSummary): Html {
  return html`<tr>
    <th scope="row">
      <a href="/ui/images/${seg(image.name)}">${image.name}</a>
      ${image.displayName ? html`<div class="muted">${image.displayName}</div>` : ''}
    </th>
    <td>${image.latest ?? html`<span class="muted">none published</span>`}</td>
    <td>${image.operatingSystems.join(', ')} ${image.releases.join(', ')}</td>
    <td>${image.architectures.join(', ')}</td>
    <td>${image.types.map((t) => TYPE_LABELS[t] ?? t).join(', ')}</td>
    <td>${image.aliases.join(', ')}</td>
  </tr>`;
}

export function imagesPage(
  ctx: PageContext,
  search: ImageSearch,
  filters: FilterValues,
  page: Page<ImageSummary>,
): Html {
  const params = {
    q: search.q,
    os: search.os,
    release: search.release,
    architecture: search.architecture,
    type: search.type,
    alias: search.alias,
  };
  const filtered = Object.values(params).some(Boolean);
  const hint =
    !ctx.visitor.principal && !ctx.publicRead
      ? html`<p class="note">
          This server is private: <a href="/ui/sign-in">sign in</a> with an API token to see its
          images.
        </p>`
      : '';
  return layout(
    ctx,
    'images',
    'Images',
    html`<h1>Images</h1>
      ${hint}
      <form class="search" method="get" action="/ui" role="search" aria-label="Images">
        <div class="field grow">
          <label for="f-q">Name</label>
          <input
            id="f-q"
            name="q"
            type="search"
            value="${search.q ?? ''}"
            placeholder="debian"
            maxlength="200"
          />
        </div>
        ${select('os', 'OS', filters.os, search.os)}
        ${select('release', 'Release', filters.release, search.release)}
        ${select('architecture', 'Architecture', filters.architecture, search.architecture)}
        ${select('type', 'Type', filters.type, search.type)}
        <div class="field">
          <label for="f-alias">Alias</label>
          <input
            id="f-alias"
            name="alias"
            value="${search.alias ?? ''}"
            placeholder="latest"
            maxlength="200"
          />
        </div>
        <div class="field actions">
          <button type="submit">Search</button> ${filtered ? html`<a href="/ui">Clear</a>` : ''}
        </div>
      </form>
      ${
        page.items.length === 0
          ? html`<p class="empty">${filtered ? 'No image matches.' : 'No images to show.'}</p>`
          : html`<div class="table-wrap">
              <table class="images">
                <caption class="sr-only">
                  Images
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Image</th>
                    <th scope="col">Latest</th>
                    <th scope="col">OS</th>
                    <th scope="col">Architectures</th>
                    <th scope="col">Types</th>
                    <th scope="col">Aliases</th>
                  </tr>
                </thead>
                <tbody>
                  ${page.items.map(row)}
                </tbody>
              </table>
            </div>`
      }
      ${pager((cursor) => `/ui${query({ ...params, cursor })}`, page.nextCursor)}`,
  );
}
