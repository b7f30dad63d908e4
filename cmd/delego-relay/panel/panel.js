/* The Runners panel: polls /api/admin/state every 2 s and renders it.
 * No framework and no build step; every string from the relay goes
 * through textContent, never innerHTML. */
(function () {
  'use strict';

  var REFRESH_MS = 2000;
  var TOKEN_KEY = 'delego-relay-admin-token';
  var ui = { openMenu: null, openJobs: {}, settingsDirty: false, lastState: null, busy: false };

  function $(id) { return document.getElementById(id); }

  /* el('div', {class: 'x'}, child, 'text', ...) */
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'class') node.className = v;
        else if (k.slice(0, 2) === 'on') node.addEventListener(k.slice(2), v);
        else node.setAttribute(k, v === true ? '' : v);
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return node;
  }

  function token() { return sessionStorage.getItem(TOKEN_KEY); }

  /* The token arrives as #token=... once; keep it in sessionStorage and clear the address bar. */
  function takeTokenFromUrl() {
    var m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (m) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
      history.replaceState(null, '', location.pathname + location.search);
    }
  }

  function api(method, path, body) {
    return fetch('/api/admin/' + path, {
      method: method,
      headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token() },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store'
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (res.status === 401) {
          sessionStorage.removeItem(TOKEN_KEY);
          showTokenForm();
        }
        if (!res.ok) throw new Error(data.error || ('the relay answered HTTP ' + res.status));
        return data;
      });
    });
  }

  function showError(msg) {
    var e = $('error');
    e.textContent = msg || '';
    e.hidden = !msg;
  }

  function showTokenForm() {
    $('need-token').hidden = false;
    $('app').hidden = true;
  }

  function ago(iso) {
    var s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.round(s / 60) + ' min ago';
    if (s < 86400) return Math.round(s / 3600) + ' h ago';
    return Math.round(s / 86400) + ' d ago';
  }

  /* The exact local date and time, as the dashboard's card shows it. */
  function exactTime(iso) {
    return new Date(iso).toLocaleString([], { year: 'numeric', month: 'short', day: 'numeric',
      hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  function clock(iso) {
    var d = new Date(iso);
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  function execPills(list) {
    var wrap = el('span', { class: 'execs' });
    (list || []).forEach(function (x) { wrap.appendChild(el('span', { class: 'pill exec' }, x === 'claude' ? 'Claude' : x === 'codex' ? 'Codex' : x)); });
    if (!wrap.childNodes.length) wrap.appendChild(document.createTextNode('\u2014'));
    return wrap;
  }

  function confirmAction(title, text, okLabel) {
    return new Promise(function (resolve) {
      var d = $('confirm-dialog');
      $('confirm-title').textContent = title;
      $('confirm-text').textContent = text;
      var ok = $('confirm-ok');
      ok.textContent = okLabel;
      function done(v) {
        ok.removeEventListener('click', onOk);
        d.removeEventListener('close', onClose);
        if (d.open) d.close();
        resolve(v);
      }
      function onOk() { done(true); }
      function onClose() { done(false); }
      ok.addEventListener('click', onOk);
      d.addEventListener('close', onClose);
      d.showModal();
    });
  }

  function showCommand(p) {
    $('pair-command').textContent = p.command;
    $('command-expiry').textContent = 'at ' + clock(p.expiresAt) + ' (in 15 minutes)';
    $('command-expiry').setAttribute('title', p.expiresAt);
    $('copy-state').textContent = '';
    $('command-dialog').showModal();
  }

  function runnerAction(r, action) {
    ui.openMenu = null;
    var name = '\u201c' + r.name + '\u201d';
    var texts = {
      rotate: ['Rotate credential?', 'The runner ' + name + ' stops working at once (it exits and asks to be re-paired). You get a new one-time pairing command for the same card.', 'Rotate'],
      restart: ['Restart runner?', 'The runner ' + name + ' restarts at its next heartbeat while idle.', 'Request restart'],
      remove: ['Remove runner?', 'The runner ' + name + ' is revoked and disappears from this list. Jobs it is running are marked failed.', 'Remove']
    };
    var t = texts[action];
    confirmAction(t[0], t[1], t[2]).then(function (yes) {
      if (!yes) { refresh(); return; }
      api('POST', 'runners/' + action, { runnerId: r.id }).then(function (res) {
        if (action === 'rotate') showCommand(res);
        showError('');
        refresh();
      }).catch(function (e) { showError(e.message); });
    });
  }

  function runnerCard(r) {
    var menu = null;
    if (ui.openMenu === r.id) {
      menu = el('div', { class: 'menu', role: 'menu' },
        r.status !== 'revoked' ? el('button', { type: 'button', role: 'menuitem', 'data-action': 'rotate', onclick: function () { runnerAction(r, 'rotate'); } }, 'Rotate credential\u2026') : null,
        r.status !== 'revoked' && r.status !== 'not_registered' ? el('button', { type: 'button', role: 'menuitem', 'data-action': 'restart', onclick: function () { runnerAction(r, 'restart'); } }, 'Restart\u2026') : null,
        el('button', { type: 'button', role: 'menuitem', class: 'danger-text', 'data-action': 'remove', onclick: function () { runnerAction(r, 'remove'); } }, 'Remove\u2026'));
    }
    var toggle = el('button', {
      type: 'button', class: 'menu-button', 'aria-haspopup': 'menu', 'aria-expanded': ui.openMenu === r.id ? 'true' : 'false',
      'aria-label': 'Actions for ' + r.name,
      onclick: function (ev) { ev.stopPropagation(); ui.openMenu = ui.openMenu === r.id ? null : r.id; render(); }
    }, '\u22ef');
    var hb = r.lastHeartbeatAt
      ? el('span', null, el('time', { datetime: r.lastHeartbeatAt, class: 'heartbeat-time' }, exactTime(r.lastHeartbeatAt)),
        ' ', el('span', { class: 'muted heartbeat-age' }, '(' + ago(r.lastHeartbeatAt) + ')'))
      : document.createTextNode('\u2014');
    return el('article', { class: 'card', 'data-runner-id': r.id },
      el('div', { class: 'card-head' },
        el('div', null,
          el('div', { class: 'card-name' }, r.name),
          el('div', { class: 'card-id' }, r.id)),
        el('div', { class: 'menu-wrap' },
          el('span', { class: 'pill status-pill status-' + r.status, 'data-status': r.status }, r.statusLabel),
          ' ', toggle, menu)),
      el('dl', null,
        el('dt', null, 'Last heartbeat'), el('dd', { class: 'heartbeat' }, hb),
        el('dt', null, 'Version'), el('dd', { class: 'version' }, r.version || '\u2014'),
        el('dt', null, 'Executors'), el('dd', null, execPills(r.executors)),
        r.activeJobId ? el('dt', null, 'Running') : null,
        r.activeJobId ? el('dd', { class: 'mono' }, r.activeJobId) : null,
        r.restartRequested ? el('dt', null, 'Restart') : null,
        r.restartRequested ? el('dd', null, 'requested') : null));
  }

  function renderRunners(state) {
    var box = $('runners');
    box.textContent = '';
    var runners = state.runners || [];
    if (!runners.length) {
      box.appendChild(el('div', { class: 'empty', id: 'runners-empty' },
        el('strong', null, 'No runners paired yet'),
        'Jobs queue until a runner is paired. Click \u201cPair runner\u201d, then run the one-time command on the machine that should do the work.'));
      return;
    }
    runners.forEach(function (r) { box.appendChild(runnerCard(r)); });
  }

  function runnerName(state, id) {
    var r = (state.runners || []).filter(function (x) { return x.id === id; })[0];
    return r ? r.name : (id ? id.slice(0, 8) : '\u2014');
  }

  /* The agent's sandbox as the runner reported it (the latest event that says). */
  function sandboxOf(j) {
    var found = null;
    (j.events || []).forEach(function (e) {
      var sb = e.metadata && e.metadata.sandbox;
      if (sb && typeof sb.mode === 'string') found = sb;
    });
    return found;
  }

  function renderJobs(state) {
    var box = $('jobs');
    box.textContent = '';
    var jobs = state.jobs || [];
    if (!jobs.length) {
      box.appendChild(el('div', { class: 'empty', id: 'jobs-empty' },
        el('strong', null, 'No jobs yet'),
        'Queued jobs wait here until a paired runner with a matching executor claims them.'));
      return;
    }
    var tbody = el('tbody');
    jobs.forEach(function (j) {
      var open = !!ui.openJobs[j.id];
      tbody.appendChild(el('tr', {
        class: 'job-row', 'data-job-id': j.id, 'aria-expanded': open ? 'true' : 'false',
        onclick: function () { if (open) delete ui.openJobs[j.id]; else ui.openJobs[j.id] = true; render(); }
      },
      el('td', null, el('span', { class: 'pill job-status job-' + j.status }, j.status.replace('_', ' '))),
      el('td', null, el('div', null, j.identifier || '\u2014'), el('div', { class: 'muted' }, j.title || '')),
      el('td', { class: 'mono' }, j.repositorySlug || '\u2014'),
      el('td', null, runnerName(state, j.runnerId)),
      el('td', { class: 'summary' }, j.summary || ''),
      el('td', { class: 'muted', title: j.updatedAt }, j.updatedAt ? ago(j.updatedAt) : '')));
      if (open) {
        var list = el('ul', { class: 'events' });
        var sb = sandboxOf(j);
        if (sb) list.appendChild(el('li', { class: 'sandbox' }, el('span', { class: 'kind' }, 'sandbox'),
          sb.mode + (sb.network ? ', network ' + sb.network : '') + (sb.note ? ' (' + sb.note + ')' : '')));
        (j.events || []).forEach(function (e) {
          list.appendChild(el('li', null, el('span', { class: 'when', title: e.at }, clock(e.at)),
            el('span', { class: 'kind' }, e.kind), e.summary || ''));
        });
        tbody.appendChild(el('tr', { class: 'job-events' }, el('td', { colspan: '6' }, list)));
      }
    });
    box.appendChild(el('table', { class: 'jobs' },
      el('thead', null, el('tr', null, el('th', null, 'Status'), el('th', null, 'Issue'), el('th', null, 'Repository'),
        el('th', null, 'Runner'), el('th', null, 'Summary'), el('th', null, 'Updated'))),
      tbody));
  }

  function renderSettings(state) {
    if (ui.settingsDirty || !state.settings) return;
    $('default-executor').value = state.settings.defaultExecutor || 'codex';
    $('workspace-path').value = state.settings.workspacePath || '';
  }

  function render() {
    var s = ui.lastState;
    if (!s) return;
    renderRunners(s);
    renderJobs(s);
    renderSettings(s);
  }

  function refresh() {
    if (!token()) { showTokenForm(); return Promise.resolve(); }
    return api('GET', 'state').then(function (s) {
      ui.lastState = s;
      $('need-token').hidden = true;
      $('app').hidden = false;
      $('refresh-state').textContent = 'updated ' + new Date().toLocaleTimeString();
      showError('');
      render();
    }).catch(function (e) {
      $('refresh-state').textContent = 'relay unreachable, retrying';
      if (token()) showError(e.message);
    });
  }

  function wire() {
    $('token-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var v = $('token-input').value.trim();
      if (v) { sessionStorage.setItem(TOKEN_KEY, v); $('token-input').value = ''; refresh(); }
    });
    $('pair-button').addEventListener('click', function () {
      $('pair-form').reset();
      $('pair-error').hidden = true;
      $('pair-dialog').showModal();
      $('pair-name').focus();
    });
    $('pair-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var name = $('pair-name').value.trim();
      var execs = Array.prototype.filter.call(document.querySelectorAll('#pair-form input[name=executor]'), function (c) { return c.checked; })
        .map(function (c) { return c.value; });
      if (!execs.length) {
        $('pair-error').textContent = 'Choose at least one executor.';
        $('pair-error').hidden = false;
        return;
      }
      api('POST', 'pair-token', { name: name || null, executors: execs }).then(function (p) {
        $('pair-dialog').close();
        showCommand(p);
        refresh();
      }).catch(function (e) {
        $('pair-error').textContent = e.message;
        $('pair-error').hidden = false;
      });
    });
    $('copy-command').addEventListener('click', function () {
      var text = $('pair-command').textContent;
      var done = function () { $('copy-state').textContent = 'Copied.'; };
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, function () { $('copy-state').textContent = 'Select the command and copy it.'; });
      else {
        var range = document.createRange();
        range.selectNodeContents($('pair-command'));
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        $('copy-state').textContent = document.execCommand && document.execCommand('copy') ? 'Copied.' : 'Selected: press Ctrl+C.';
      }
    });
    Array.prototype.forEach.call(document.querySelectorAll('[data-close]'), function (b) {
      b.addEventListener('click', function () { b.closest('dialog').close(); });
    });
    $('settings-form').addEventListener('input', function () { ui.settingsDirty = true; $('settings-saved').textContent = ''; });
    $('settings-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      api('POST', 'settings', { defaultExecutor: $('default-executor').value, workspacePath: $('workspace-path').value.trim() })
        .then(function (s) {
          ui.settingsDirty = false;
          $('settings-saved').textContent = 'Saved.';
          if (ui.lastState) ui.lastState.settings = s;
          renderSettings(ui.lastState || { settings: s });
        }).catch(function (e) { $('settings-saved').textContent = e.message; });
    });
    document.addEventListener('click', function (ev) {
      if (ui.openMenu && !ev.target.closest('.menu-wrap')) { ui.openMenu = null; render(); }
    });
    document.addEventListener('keydown', function (ev) {
      if (ev.key === 'Escape' && ui.openMenu) { ui.openMenu = null; render(); }
    });
  }

  takeTokenFromUrl();
  window.addEventListener('hashchange', function () { takeTokenFromUrl(); refresh(); });
  wire();
  refresh();
  setInterval(function () {
    /* Leave the page alone while a dialog is open, so nothing moves under the user. */
    if (document.querySelector('dialog[open]')) return;
    refresh();
  }, REFRESH_MS);
})();
