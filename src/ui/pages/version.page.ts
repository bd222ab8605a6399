import { formatBinaryBytes } from '../../common/text';
import { artifactFilename, safeFilename, type Manifest } from '../../catalog/catalog.service';
import type { JobView } from '../../publish/publish.service';
import { formatTime, html, seg, type Html } from '../html';
import { badge, command, layout, type PageContext } from '../layout';
import type { ProjectedImage } from '../ui-catalog.queries';

export interface VersionPageData {
  readonly manifest: Manifest;
  readonly aliases: string[];
  readonly projected: ProjectedImage[];
  readonly job: JobView | null;
  /** The https:// address Incus hosts add as a remote. */
  readonly remoteUrl: string;
}

const REMOTE = 'imgsrv';

export function versionPage(ctx: PageContext, data: VersionPageData): Html {
  const { manifest, aliases, projected } = data;
  const { image, version } = manifest;
  const imageBase = `/ui/images/${seg(image.name)}`;
  const apiBase = `/v1/images/${seg(image.name)}/versions/${seg(version.version)}/artifacts`;
  const privateServer = !ctx.publicRead;
  const remoteUrl = privateServer
    ? data.remoteUrl.replace('https://', 'https://any:API_TOKEN@')
    : data.remoteUrl;
  const commands: Html[] = [
    command(
      'Add this server as a remote',
      `incus remote add ${REMOTE} ${remoteUrl} --protocol=simplestreams --public`,
    ),
  ];
  for (const p of projected) {
    const vm = p.type === 'virtual-machine' ? ' --vm' : '';
    const ref = aliases[0] ? `${image.name}/${aliases[0]}` : p.fingerprint.slice(0, 12);
    commands.push(
      command(
        `Launch the ${p.type === 'virtual-machine' ? 'VM' : 'container'} image (${p.architecture})`,
        `incus launch ${REMOTE}:${ref} my-instance${vm}`,
      ),
    );
  }
  return layout(
    ctx,
    'images',
    `${image.name} ${version.version}`,
    html`<nav class="crumbs" aria-label="Breadcrumb">
        <a href="/ui">Images</a> › <a href="${imageBase}">${image.name}</a> ›
        <span aria-current="page">${version.version}</span>
      </nav>
      <h1>${image.name} <span class="ver">${version.version}</span> ${badge(version.state)}</h1>
      <dl class="facts">
        <dt>Created</dt>
        <dd>${formatTime(version.createdAt)}</dd>
        <dt>Published</dt>
        <dd>${formatTime(version.publishedAt)}</dd>
        ${
          aliases.length
            ? html`<dt>Aliases</dt>
                <dd>${aliases.join(', ')}</dd>`
            : ''
        }
        ${
          version.withdrawnAt
            ? html`<dt>Withdrawn</dt>
                <dd>${formatTime(version.withdrawnAt)}: ${version.withdrawnReason ?? ''}</dd>`
            : ''
        }
        ${
          data.job
            ? html`<dt>Publish job</dt>
                <dd><a href="/ui/jobs/${seg(data.job.job.id)}">${data.job.job.state}</a></dd>`
            : ''
        }
      </dl>
      ${
        version.state === 'published' && projected.length > 0
          ? html`<h2>Use it with Incus</h2>
              ${privateServer ? html`<p class="note">Replace API_TOKEN with a token that may read this image.</p>` : ''}${commands}`
          : ''
      }
      <h2>Artifacts</h2>
      ${manifest.artifacts.length === 0 ? html`<p class="empty">No artifacts.</p>` : ''}
      ${manifest.artifacts.map(({ artifact, attachments }) => {
        const fp = projected.find((p) => p.artifactId === artifact.id);
        const file = artifactFilename(image.name, version.version, artifact);
        return html`<section class="artifact" aria-labelledby="a-${artifact.id}">
          <h3 id="a-${artifact.id}">
            ${artifact.operatingSystem} · ${artifact.architecture} · ${artifact.variant} ·
            ${artifact.format}
          </h3>
          <dl class="facts">
            <dt>File</dt>
            <dd>
              <a href="${apiBase}/${seg(artifact.id)}/download/${seg(file)}" download>${file}</a>
            </dd>
            <dt>SHA-256</dt>
            <dd><code class="digest">${artifact.primaryBlobDigest}</code></dd>
            <dt>Size</dt>
            <dd>
              ${formatBinaryBytes(artifact.primaryBlobSizeBytes)} (<span class="bytes"
                >${artifact.primaryBlobSizeBytes}</span
              >
              bytes)
            </dd>
            <dt>Media type</dt>
            <dd>${artifact.primaryMediaType}</dd>
            ${
              fp
                ? html`<dt>Incus fingerprint</dt>
                    <dd>
                      <code class="fingerprint">${fp.fingerprint}</code> (${fp.type},
                      ${fp.operatingSystem} ${fp.release})
                    </dd>`
                : ''
            }
          </dl>
          ${
            attachments.length === 0
              ? ''
              : html`<div class="table-wrap">
                  <table>
                    <caption>
                      Attachments
                    </caption>
                    <thead>
                      <tr>
                        <th scope="col">Name</th>
                        <th scope="col">SHA-256</th>
                        <th scope="col">Size</th>
                      </tr>
                    </thead>
                    <tbody>
                      ${attachments.map(
                        (a) =>
                          html`<tr>
                            <th scope="row">
                              <a
                                href="${apiBase}/${seg(artifact.id)}/attachments/${seg(a.id)}/download/${seg(safeFilename(a.name))}"
                                download
                                >${a.name}</a
                              >
                            </th>
                            <td><code class="digest">${a.blobDigest}</code></td>
                            <td>${formatBinaryBytes(a.blobSizeBytes)}</td>
                          </tr>`,
                      )}
                    </tbody>
                  </table>
                </div>`
          }
        </section>`;
      })}`,
  );
}
