// The parts of the chat page, in the order they start and render (session.ts says what a part is).
// A new part is a file of its own and one line here. layout is last: it scrolls the messages the
// others have drawn.
import { useFeatures } from './session.js';
import { conversations } from './conversation-view.js';
import { live } from './live.js';
import { files } from './files.js';
import { trust } from './trust.js';
import { groups } from './groups.js';
import { look } from './look.js';
import { emoji } from './emoji.js';
import { notifications } from './notify.js';
import { search } from './search-view.js';
import { account } from './account.js';
import { typing } from './typing.js';
import { layout } from './layout.js';

// layout stays last: it scrolls the messages the other parts have drawn.
useFeatures([conversations, look, live, files, trust, groups, emoji, notifications, search, account, typing, layout]);
