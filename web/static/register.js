// The registration page: create the account, then sign in with the same password.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  $('register-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const email = $('email').value.trim();
    const password = $('password').value;
    const error = $('register-error');
    error.textContent = '';
    if (!email) { error.textContent = 'Enter your email address.'; Assent.focus($('email')); return; }
    if (password.length < 8) { error.textContent = 'The password must have at least 8 characters.'; Assent.focus($('password')); return; }
    $('register-submit').disabled = true;
    try {
      await Assent.call('POST', '/v1/accounts', { email, password });
      const res = await Assent.call('POST', '/v1/sessions', { email, password });
      window.location.assign(res.status === 'signed_in' ? '/' : '/signin');
    } catch (err) {
      error.textContent = Assent.words(err);
    } finally {
      $('register-submit').disabled = false;
    }
  });
})();
