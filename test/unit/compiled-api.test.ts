/**
 * The committed compiled API (src/generated: the FileDescriptorSet and the
 * TypeScript types) is what `npm run proto` makes from proto/ now.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/daemon-process.js';

describe('compiled API', () => {
  it('src/generated is not stale against proto/', () => {
    const r = spawnSync(process.execPath, [join(REPO, 'scripts', 'proto.js'), '--check'], { cwd: REPO, encoding: 'utf8' });
    expect(r.stderr + r.stdout).toContain('src/generated matches proto/');
    expect(r.status).toBe(0);
  }, 60_000);
});
