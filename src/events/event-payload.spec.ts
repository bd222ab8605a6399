import {
  aliasDeletedData,
  aliasMovedData,
  envelope,
  versionPublishedData,
  versionPublishFailedData,
  type VersionFacts,
} from './event-payload';
import { EVENT_TYPES, SUBSCRIBABLE_EVENT_TYPES, isEventType, orderingKey } from './event-types';

const digest = (c: string) => `sha256:${c.repeat(64)}`;

const facts: VersionFacts = {
  image: { name: 'debian-12' },
  version: { id: 'v-1', version: '20261123' },
  artifacts: [
    {
      artifact: {
        id: 'a-1',
        variant: 'default',
        operatingSystem: 'debian',
        architecture: 'amd64',
        format: 'qcow2',
        primaryBlobDigest: digest('a'),
        primaryBlobSizeBytes: 1024,
        primaryMediaType: 'application/x-qemu-disk',
      },
      attachments: [
        {
          id: 't-1',
          name: 'incus.tar.xz',
          mediaType: 'application/x-xz',
          blobDigest: digest('b'),
          blobSizeBytes: 12,
        },
      ],
    },
  ],
};
const actor = { principalId: 'p-1', name: 'release pipeline' };

describe('event payloads', () => {
  it('version.published names the version, every digest, the actor and the API paths', () => {
    expect(versionPublishedData(facts, 'job-1', actor)).toEqual({
      image: 'debian-12',
      version: '20261123',
      version_id: 'v-1',
      publish_job_id: 'job-1',
      artifacts: [
        {
          id: 'a-1',
          variant: 'default',
          operating_system: 'debian',
          architecture: 'amd64',
          format: 'qcow2',
          digest: digest('a'),
          size_bytes: 1024,
          media_type: 'application/x-qemu-disk',
          attachments: [
            {
              id: 't-1',
              name: 'incus.tar.xz',
              digest: digest('b'),
              size_bytes: 12,
              media_type: 'application/x-xz',
            },
          ],
          links: { download: '/v1/images/debian-12/versions/20261123/artifacts/a-1/download' },
        },
      ],
      actor: { principal_id: 'p-1', name: 'release pipeline' },
      links: {
        image: '/v1/images/debian-12',
        version: '/v1/images/debian-12/versions/20261123',
        manifest: '/v1/images/debian-12/versions/20261123',
        publish_job: '/v1/publish-jobs/job-1',
      },
    });
  });

  it('version.publish_failed adds the failed step and its message', () => {
    const data = versionPublishFailedData(facts, 'job-1', actor, {
      step: 'incus_index',
      message: 'metadata says arm64',
    });
    expect(data).toMatchObject({
      image: 'debian-12',
      version: '20261123',
      failure: { step: 'incus_index', message: 'metadata says arm64' },
    });
  });

  it('alias.moved says where the alias points now and where it pointed', () => {
    const data = aliasMovedData(
      facts,
      { id: 'al-1', name: 'latest', previousVersion: '20261101' },
      actor,
    );
    expect(data).toMatchObject({
      image: 'debian-12',
      alias: 'latest',
      alias_id: 'al-1',
      version: '20261123',
      previous_version: '20261101',
      links: { alias: '/v1/images/debian-12/aliases/latest' },
    });
    expect((data.artifacts as { digest: string }[])[0].digest).toBe(digest('a'));
  });

  it('alias.deleted names the version the alias pointed at', () => {
    expect(
      aliasDeletedData(
        'debian-12',
        { id: 'al-1', name: 'latest', version: '20261123', versionId: 'v-1' },
        { principalId: null, name: null },
      ),
    ).toMatchObject({
      alias: 'latest',
      version: '20261123',
      actor: { principal_id: null, name: null },
    });
  });

  it('wraps data in the Standard Webhooks envelope, the same bytes every time', () => {
    const event = {
      id: 'e-1',
      type: 'alias.deleted',
      occurredAt: new Date('2026-11-23T10:00:00.123Z'),
      data: { b: 1, a: 2 },
    };
    const body = envelope(event);
    expect(JSON.parse(body)).toEqual({
      id: 'e-1',
      type: 'alias.deleted',
      timestamp: '2026-11-23T10:00:00.123Z',
      data: { b: 1, a: 2 },
    });
    expect(envelope(event)).toBe(body);
  });
});

describe('event types', () => {
  it('are defined in one place, the planned ones included, and ordered per image or remote', () => {
    expect(SUBSCRIBABLE_EVENT_TYPES).toEqual([
      'version.published',
      'version.publish_failed',
      'version.withdrawn',
      'alias.moved',
      'alias.deleted',
      'remote.sync_finished',
    ]);
    expect(isEventType('version.withdrawn')).toBe(true);
    expect(isEventType('ping')).toBe(false);
    expect(isEventType('toString')).toBe(false);
    expect(orderingKey('alias.moved', 'debian-12')).toBe('image:debian-12');
    expect(orderingKey('remote.sync_finished', 'upstream')).toBe('remote:upstream');
    expect(orderingKey('ping', null)).toBeNull();
    expect(Object.keys(EVENT_TYPES)).toHaveLength(6);
  });
});
