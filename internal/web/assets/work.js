// Shared by /diary, /event and /approvals: the sign-in flow, the grids of
// the token's scope, form fields with their errors, and live updates over
// GraphQL subscriptions (GraphQL over SSE: a POST answered with a stream).
'use strict';

const WORK = (() => {
  const { h, $, clear, gql } = GH;

  // start signs in (check(token) must accept it), fills the account area and
  // calls ready(); an answer UNAUTHENTICATED later starts over.
  async function start(app, title, check, ready, message) {
    clear($('#account'));
    if (GH.token()) {
      try {
        await check(GH.token());
      } catch (e) {
        GH.setToken('');
        return start(app, title, check, ready, e.message);
      }
    } else {
      const p = GH.signIn(app, { title, check });
      if (message) { const err = $('#signin-error'); err.textContent = message; err.hidden = false; }
      await p;
    }
    GH.account($('#account'), GH.token());
    clear(app);
    const again = () => {
      document.removeEventListener('gh:unauthenticated', again);
      GH.setToken('');
      start(app, title, check, ready, '登录已失效，请重新粘贴令牌。');
    };
    document.addEventListener('gh:unauthenticated', again);
    ready();
  }

  // grids lists the responsibility grids of the token's scope (a grid
  // worker's grids, a community's grids), by code.
  async function grids() {
    const c = GH.claims(GH.token()) || {};
    const scope = (c.scope || []).filter((s) => /^\d{12,15}$/.test(s));
    const out = [];
    for (const code of scope) {
      const r = await GH.must(`query($w: ID!) { grids(level: GRID, within: $w, first: 100) { nodes { code name kind households } } }`, { w: code });
      out.push(...r.grids.nodes);
    }
    return out;
  }

  // gridCard is the card that picks the grid worked in; pick(code) is
  // called on a change.
  function gridCard(grids, pick) {
    const sel = h('select', { id: 'grid', onchange: () => pick(sel.value) },
      grids.map((g) => h('option', { value: g.code }, g.name + '（' + g.code + '）')));
    return h('section', { class: 'card', id: 'grid-card' }, h('h2', {}, '网格'), field('grid', '当前网格', sel));
  }

  // field makes a labelled control with a place for its error; name is the
  // input path the hub names in extensions.field.
  function field(name, label, control, help) {
    control.id = control.id || 'f-' + name;
    control.name = name;
    return h('div', { class: 'field', dataset: { field: name } },
      h('label', { for: control.id }, label), control,
      help ? h('div', { class: 'muted small' }, help) : null,
      h('div', { class: 'err', role: 'alert', hidden: true }));
  }

  // What each rule the daily work checks means, in the words of the forms.
  const RULES = {
    required: '此项为必填项',
    unknown: '不在可选范围内',
    grid: '不是本网格的住户',
    not_future: '时间不能晚于现在',
    backdated: '只能补记一个月内的记录',
    max_length: '内容过长',
    too_large: '照片太大',
    type: '只能上传 JPEG、PNG 或 WebP 照片',
    max_items: '照片数量超过上限',
    empty: '照片是空文件',
    outside_city: '该位置不在本市网格内',
    order: '当前环节不能进行此操作',
    not_targeted: '该表单不是发给本街道的',
    decided: '本街道已审批过该版本',
    not_approved: '该表单未经本街道准入批准',
    idempotency: '此内容已提交过，请刷新页面',
  };
  function ruleText(e) {
    const rule = e.extensions && e.extensions.rule;
    return RULES[rule] || GH.errorText(e);
  }

  // showErrors marks the fields the errors name and returns the text of
  // the errors that name none.
  function showErrors(form, errors) {
    for (const f of form.querySelectorAll('.field.invalid')) {
      f.classList.remove('invalid');
      $('.err', f).hidden = true;
    }
    const rest = [];
    for (const e of errors) {
      const name = e.extensions && e.extensions.field;
      const top = name && name.replace(/\[\d+\].*$/, '');
      const f = top && form.querySelector('.field[data-field="' + top + '"]');
      if (f) {
        f.classList.add('invalid');
        const err = $('.err', f);
        err.textContent = ruleText(e);
        err.hidden = false;
      } else rest.push(ruleText(e));
    }
    return rest.join(' ');
  }

  // localTime is a Date as a datetime-local input's value.
  function localTime(d) {
    const p = (n) => String(n).padStart(2, '0');
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes());
  }
  // isoTime reads a datetime-local value as an RFC 3339 instant.
  function isoTime(v) { return v ? new Date(v).toISOString() : null; }

  // subscribe runs a GraphQL subscription over SSE (the distinct-connections
  // mode of GraphQL over SSE: one POST, the answer a stream of "next"
  // events) and calls onData with each result's data. It reconnects after a
  // drop (not after the hub completes it) and returns a function that stops
  // it; onState(true/false) says whether the stream is open.
  function subscribe(query, variables, onData, onState) {
    let stopped = false;
    let ctrl = null;
    let retry = 1000;
    async function run() {
      while (!stopped) {
        ctrl = new AbortController();
        try {
          const resp = await fetch('/graphql', {
            method: 'POST', signal: ctrl.signal,
            headers: { 'Content-Type': 'application/json', 'Accept': 'text/event-stream', 'Authorization': 'Bearer ' + GH.token() },
            body: JSON.stringify({ query, variables: variables || {} }),
          });
          if (resp.status === 401) { document.dispatchEvent(new CustomEvent('gh:unauthenticated')); return; }
          if (!resp.ok || !resp.body) throw new Error('HTTP ' + resp.status);
          if (onState) onState(true);
          retry = 1000;
          const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
          let buf = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += value;
            let i;
            while ((i = buf.indexOf('\n\n')) >= 0) {
              const frame = buf.slice(0, i);
              buf = buf.slice(i + 2);
              let event = 'message', data = '';
              for (const line of frame.split('\n')) {
                if (line.startsWith('event:')) event = line.slice(6).trim();
                else if (line.startsWith('data:')) data += line.slice(5).trim();
              }
              if (event === 'next' && data) {
                const msg = JSON.parse(data);
                if (msg.data) onData(msg.data);
                if (msg.errors && msg.errors.length) console.warn('gridhub: subscription', msg.errors);
              }
              // The hub ended the subscription: nothing more will come.
              if (event === 'complete') stopped = true;
            }
          }
        } catch (e) {
          if (stopped) return;
          console.warn('gridhub: subscription dropped', e && e.message);
        }
        if (onState) onState(false);
        if (stopped) return;
        await new Promise((r) => setTimeout(r, retry));
        retry = Math.min(retry * 2, 15000);
      }
    }
    run();
    return () => { stopped = true; if (ctrl) ctrl.abort(); };
  }

  // upload posts an operation with files, as the GraphQL multipart request
  // spec says (operations, map, then the files); files go to the variable
  // path (e.g. "in.photos"). It resolves to {data, errors} as GH.gql does.
  async function upload(query, variables, path, files) {
    const form = new FormData();
    const vars = JSON.parse(JSON.stringify(variables));
    const [top, key] = path.split('.');
    vars[top][key] = files.map(() => null);
    form.append('operations', JSON.stringify({ query, variables: vars }));
    const map = {};
    files.forEach((f, i) => { map[String(i)] = ['variables.' + path + '.' + i]; });
    form.append('map', JSON.stringify(map));
    files.forEach((f, i) => form.append(String(i), f, f.name));
    let resp;
    try {
      resp = await fetch('/graphql', { method: 'POST', headers: { 'Authorization': 'Bearer ' + GH.token() }, body: form });
    } catch (e) {
      throw new GH.RequestError('无法连接服务器，请检查网络后重试。');
    }
    let reply = null;
    try { reply = await resp.json(); } catch (e) { /* not JSON */ }
    if (!reply) throw new GH.RequestError('服务器没有给出有效回答（HTTP ' + resp.status + '），请重试。');
    const errors = reply.errors || [];
    if (errors.some((e) => GH.code(e) === 'UNAUTHENTICATED')) document.dispatchEvent(new CustomEvent('gh:unauthenticated'));
    return { data: reply.data || null, errors };
  }

  // photo fetches a photo the hub serves only with the token, as a blob URL.
  async function photo(url) {
    const resp = await fetch(url, { headers: { 'Authorization': 'Bearer ' + GH.token() } });
    if (!resp.ok) throw new Error('HTTP ' + resp.status);
    return URL.createObjectURL(await resp.blob());
  }

  return { start, grids, gridCard, field, showErrors, localTime, isoTime, subscribe, upload, photo };
})();
