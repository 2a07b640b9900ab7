// @ts-check
// The key console's entry: wires each view of the page to its elements. The
// views (views/) call keyward's admin API through api.js, which alone holds
// the credential, and judge keys and forms with the pure model (model.js).

import { keepFocusInDialogs } from "./views/dialogs.js";
import { wireAudit } from "./views/audit.js";
import { wireCreate } from "./views/create.js";
import { edit, rotate, showDetails, wireKey } from "./views/key.js";
import { wireKeys } from "./views/keys.js";
import { wireReveal } from "./views/reveal.js";
import { wireSignIn } from "./views/signin.js";
import { wireTeam } from "./views/team.js";

wireSignIn();
wireTeam();
// A row of the keys table opens one key's details, edit form or rotation.
wireKeys({ details: showDetails, edit, rotate });
wireKey();
wireCreate();
wireReveal();
wireAudit();
keepFocusInDialogs();
