import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** Whether the process whose id is in `pidFile` ends (or is a zombie) within 5 s (a loaded machine can take seconds to run the kill). */
export async function processGone(pidFile: string): Promise<boolean> {
  const pid = Number((await readFile(pidFile, 'utf8')).trim());
  for (let i = 0; i < 100; i++) {
    const state = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (state === '' || / Z /.test(state)) return true;
    await sleep(50);
  }
  return false;
}
