/**
 * Who owns a run: this host, this process and when the process started. Containers and temp files
 * carry it, so `prune` can tell a build still running from one whose process was killed, even
 * after the pid was reused.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface Owner {
  host: string;
  pid: number;
  /** When the owning process started, in ms since the epoch. */
  startedMs: number;
}

/** When this process started: computed once, as uptime and the clock tick apart. */
const PROCESS_STARTED_MS = Math.round(Date.now() - process.uptime() * 1000);

export function currentOwner(): Owner {
  return { host: os.hostname(), pid: process.pid, startedMs: PROCESS_STARTED_MS };
}

/** The start time of a local process, from /proc (Linux); undefined when unknown or gone. */
function processStartMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const startTicks = Number(fields[19]);
    const bootSeconds = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    // USER_HZ is 100 on every Linux architecture d7y-build runs on.
    return bootSeconds * 1000 + startTicks * 10;
  } catch {
    return undefined;
  }
}

/** Whether a local process with this pid exists (a temp file's name records only the pid). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether the owner still runs. Owners on other hosts are assumed alive: their pids mean nothing here.
 * A live pid whose process started at another time is a reused pid, and does not count.
 */
export function ownerAlive(owner: Owner, host: string = os.hostname()): boolean {
  if (owner.host !== host) return true;
  if (!pidAlive(owner.pid)) return false;
  const started = processStartMs(owner.pid);
  return started === undefined || Math.abs(started - owner.startedMs) < 2000;
}
