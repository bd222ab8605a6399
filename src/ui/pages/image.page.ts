import { formatBinaryBytes } from '../../common/text';
import type { ImageStorage } from '../../catalog/image.repository';
import type { ImageEntity } from '../../catalog/image.entity';
import type { ImageVersionEntity } from '../../catalog/image-version.entity';
import type { Page } from '../../common/pagination';
import { formatTime, html, query, seg, type Html } from '../html';
import { badge, layout, pager, type PageContext } from '../layout';

export interface AliasView {
  readonly alias: string;
  readonly version: string;
  readonly updatedAt: Date;
}

export function imagePage(
  ctx: PageContext,
  image: ImageEntity,
  storage: ImageStorage,
  aliases: AliasView[],
  versions: Page<ImageVersionEntity>,
): Html {
  const base = `/ui/images/${seg(image.name)}`;
  const aliasesOf = (version: string) =>
    aliases.filter((a) => a.version === version).map((a) => a.alias);
  return layout(
    ctx,
    'images',
    image.name,
    html`<nav class="crumbs" aria-label="Breadcrumb">
        <a href="/ui">Images</a> › <span aria-current="page">${image.name}</span>
      </nav>
      <h1>${image.displayName ?? image.name}</h1>
      ${image.displayName ? html`<p class="muted">${image.name}</p>` : ''}
      ${image.description ? html`<p>${image.description}</p>` : ''}
      <dl class="facts">
        <dt>Storage</dt>
        <dd>
          ${formatBinaryBytes(storage.bytes)} cited, ${formatBinaryBytes(storage.bytesUnique)} of it
          by no other image
        </dd>
        <dt>Created</dt>
        <dd>${formatTime(image.createdAt)}</dd>
      </dl>
      <h2>Aliases</h2>
      ${
        aliases.length === 0
          ? html`<p class="empty">No aliases.</p>`
          : html`<div class="table-wrap">
              <table>
                <caption class="sr-only">
                  Aliases
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Alias</th>
                    <th scope="col">Version</th>
                    <th scope="col">Moved</th>
                  </tr>
                </thead>
                <tbody>
                  ${aliases.map(
                    (a) =>
                      html`<tr>
                        <th scope="row">${a.alias}</th>
                        <td><a href="${base}/versions/${seg(a.version)}">${a.version}</a></td>
                        <td>${formatTime(a.updatedAt)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>`
      }
      <h2>Versions</h2>
      ${
        versions.items.length === 0
          ? html`<p class="empty">No versions.</p>`
          : html`<div class="table-wrap">
              <table class="versions">
                <caption class="sr-only">
                  Versions, newest first
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Version</th>
                    <th scope="col">State</th>
                    <th scope="col">Aliases</th>
                    <th scope="col">Created</th>
                    <th scope="col">Published</th>
                  </tr>
                </thead>
                <tbody>
                  ${versions.items.map(
                    (v) =>
                      html`<tr>
                        <th scope="row">
                          <a href="${base}/versions/${seg(v.version)}">${v.version}</a>
                        </th>
                        <td>${badge(v.state)}</td>
                        <td>${aliasesOf(v.version).join(', ')}</td>
                        <td>${formatTime(v.createdAt)}</td>
                        <td>${formatTime(v.publishedAt)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>`
      }
      ${pager((cursor) => `${base}${query({ cursor })}`, versions.nextCursor)}`,
  );
}
