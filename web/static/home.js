// The signed-in home: who is signed in, whether 2FA is on, sign out.
'use strict';

(async () => {
  const $ = (id) => document.getElementById(id);
  try {
    const s = await Assent.requireSession();
    if (!s) return;
    const sec = await Assent.call('GET', '/v1/security');
    $('home-email').textContent = s.email;
    $('home-mfa').textContent = sec.mfa_enabled ? 'on' : 'off';
    $('home-status').textContent = 'Signed in.';
    $('home-account').hidden = false;
    Assent.showNotices(s);
  } catch (err) {
    $('home-status').textContent = Assent.words(err);
  }
  $('signout').addEventListener('click', () => Assent.signOut());
})();
