import { DomainError } from '../common/errors/domain-error';
import { lifecycleRefusal } from './lifecycle-refusals';

const pg = (code: string, constraint?: string) =>
  Object.assign(new Error('x'), { code, constraint });

describe('lifecycleRefusal', () => {
  it('maps a frozen version or manifest to VERSION_NOT_DRAFT', () => {
    for (const name of [
      'image_version_frozen',
      'image_version_delete_not_draft',
      'image_version_transition',
      'manifest_frozen',
    ]) {
      const error = lifecycleRefusal(pg('23514', name));
      expect(error).toBeInstanceOf(DomainError);
      expect(error?.code).toBe('VERSION_NOT_DRAFT');
    }
  });

  it('maps an alias on an unpublished version to ALIAS_TARGET_NOT_PUBLISHED', () => {
    expect(lifecycleRefusal(pg('23514', 'alias_target_not_published'))?.code).toBe(
      'ALIAS_TARGET_NOT_PUBLISHED',
    );
  });

  it('leaves every other error alone, other check violations included', () => {
    expect(lifecycleRefusal(pg('23514', 'image_version_identity'))).toBeUndefined();
    expect(lifecycleRefusal(pg('23514', 'ck_image_name'))).toBeUndefined();
    expect(lifecycleRefusal(pg('23514'))).toBeUndefined();
    expect(lifecycleRefusal(pg('23505', 'image_version_frozen'))).toBeUndefined();
    expect(lifecycleRefusal(new Error('boom'))).toBeUndefined();
  });
});
