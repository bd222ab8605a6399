/** What a principal may be allowed to do (docs/architecture.md, "Principals, roles and tokens"). */
export const ACTIONS = [
  'content.read',
  'content.write',
  'content.publish',
  'alias.write',
  'auth.manage',
  'audit.read',
  'webhook.manage',
  'remote.manage',
] as const;

export type Action = (typeof ACTIONS)[number];

/** Actions that concern one image, and so are limited by a grant's image scope. */
export const IMAGE_BOUND_ACTIONS: ReadonlySet<Action> = new Set([
  'content.read',
  'content.write',
  'content.publish',
  'alias.write',
]);

export const BUILT_IN_ROLES = {
  reader: ['content.read'],
  'content-writer': ['content.read', 'content.write', 'content.publish', 'alias.write'],
  'release-manager': ['content.read', 'content.publish', 'alias.write'],
  'auth-manager': ['auth.manage', 'audit.read', 'webhook.manage', 'remote.manage'],
  // Runs the mirrors: manages upstream remotes and their syncs (the content a sync publishes is
  // written by the server itself, as `system:mirror`).
  'mirror-manager': ['remote.manage'],
} as const satisfies Record<string, readonly Action[]>;

export type RoleId = keyof typeof BUILT_IN_ROLES;
