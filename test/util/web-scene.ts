// What a browser test file shares: one relay process, one Chromium and carol, a real `fastchat`
// home registered on that relay, set up before the file's tests and stopped after them.
import { after, before } from 'node:test';
import { startBrowser, type BrowserHandle } from './browser.js';
import { makeHome, makeTempRoot, setUpUser, type TestHome } from './fastchat-cli.js';
import { startRelayProcess, type RelayProcess } from './relay-process.js';

export interface WebScene {
  relay: RelayProcess;
  chromium: BrowserHandle;
  tmp: ReturnType<typeof makeTempRoot>;
  carol: TestHome;
}

/** Registers the before/after hooks; the scene's fields are set once `before` has run. */
export function webScene(prefix: string): WebScene {
  const scene = {} as WebScene;
  before(async () => {
    scene.tmp = makeTempRoot(prefix);
    [scene.relay, scene.chromium] = await Promise.all([startRelayProcess(), startBrowser()]);
    scene.carol = makeHome(scene.tmp.root, 'carol');
    await setUpUser(scene.carol, scene.relay.url);
  });
  after(async () => {
    await Promise.all([scene.relay?.stop(), scene.chromium?.stop()]);
    scene.tmp?.cleanup();
  });
  return scene;
}
