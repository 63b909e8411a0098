import { describe, expect, it } from 'vitest';
import { gitEnvironment } from '../../src/git/source';

describe('gitEnvironment', () => {
  it("keeps the user's CA, ssh and askpass settings, drops every other GIT_* and what could prompt", () => {
    const env = gitEnvironment({
      PATH: '/usr/bin',
      GIT_SSL_CAINFO: '/ca.pem',
      GIT_SSH_COMMAND: 'ssh -i k',
      GIT_ASKPASS: '/bin/pass',
      GIT_DIR: '/elsewhere/.git',
      GIT_WORK_TREE: '/elsewhere',
      GIT_INDEX_FILE: '/elsewhere/index',
      GIT_CONFIG_PARAMETERS: "'core.fsmonitor=evil'",
      EDITOR: 'vi',
      PAGER: 'less',
    });
    expect(env).toEqual({ PATH: '/usr/bin', GIT_SSL_CAINFO: '/ca.pem', GIT_SSH_COMMAND: 'ssh -i k', GIT_ASKPASS: '/bin/pass', GIT_TERMINAL_PROMPT: '0' });
  });

  it('adds what d7y-build names itself, after the filter', () => {
    expect(gitEnvironment({ GIT_DIR: '/user' }, { GIT_DIR: '/cache/git/x.git' })).toEqual({ GIT_TERMINAL_PROMPT: '0', GIT_DIR: '/cache/git/x.git' });
  });
});
