// /diary: a grid worker's patrols and 民情日记. Sign in, pick the grid,
// record a patrol, write what was heard on a visit, see the grid's recent
// entries.
(() => {
  const { h, $, clear, gql, must } = GH;
  const { field, showErrors, localTime, isoTime } = WORK;

  const Q_CATEGORIES = `{ diaryCategories { code label } }`;
  const Q_HOUSEHOLDS = `query($w: ID!) { people(within: $w, first: 100) { nodes { relation household { id address } } } }`;
  const Q_ENTRIES = `query($w: ID!) { diaryEntries(within: $w, first: 20) { totalCount nodes {
    id patrol visitedAt households category { code label } heard help followUp followUpNote worker } } }`;
  const M_PATROL = `mutation($in: RecordPatrolInput!) { recordPatrol(input: $in) { id gridCode startedAt endedAt } }`;
  const M_ENTRY = `mutation($in: RecordDiaryEntryInput!) { recordDiaryEntry(input: $in) { id } }`;

  const app = $('#app');
  const state = { categories: [], grids: [], grid: null, patrol: null, households: new Set() };

  WORK.start(app, '登录民情日记', async () => {
    const r = await gql(Q_CATEGORIES);
    if (r.errors.length) throw new Error(GH.errorText(r.errors[0]));
    state.categories = r.data.diaryCategories;
    state.grids = await WORK.grids();
    if (!state.grids.length) throw new Error('此令牌没有可记录的网格：请使用网格员或社区工作者的令牌。');
  }, ready);

  function ready() {
    app.append(
      WORK.gridCard(state.grids, pick),
      h('section', { class: 'card', id: 'patrol-card' }),
      h('section', { class: 'card', id: 'entry-card' }),
      h('section', { class: 'card', id: 'recent-card' }));
    pick(state.grids[0].code);
  }

  function pick(code) {
    state.grid = state.grids.find((g) => g.code === code);
    state.patrol = null;
    state.households.clear();
    patrolCard();
    entryCard();
    recent();
  }

  // ---- patrol ----
  function patrolCard() {
    const card = clear($('#patrol-card'));
    const now = new Date();
    const start = h('input', { type: 'datetime-local', value: localTime(new Date(now - 3600e3)) });
    const end = h('input', { type: 'datetime-local', value: localTime(now) });
    const note = h('textarea', { rows: 2, placeholder: '巡查路线、发现的情况（选填）' });
    const msg = h('div', { class: 'notice error', role: 'alert', hidden: true });
    const done = h('div', { class: 'ok-line', id: 'patrol-done', hidden: !state.patrol }, state.patrol ? '已记录巡查 #' + state.patrol : '');
    const btn = h('button', { type: 'submit', class: 'btn block', id: 'record-patrol' }, '记录巡查');
    const form = h('form', { class: 'stack', novalidate: true },
      h('div', { class: 'row' }, field('startedAt', '开始时间', start), field('endedAt', '结束时间', end)),
      field('note', '巡查记录', note), msg, btn, done);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      btn.disabled = true;
      msg.hidden = true;
      try {
        const r = await gql(M_PATROL, { in: {
          grid: state.grid.code, startedAt: isoTime(start.value), endedAt: isoTime(end.value),
          note: note.value.trim() || null, idempotencyKey: form.dataset.key || (form.dataset.key = GH.uuid()),
        } });
        const rest = showErrors(form, r.errors);
        if (rest) { msg.textContent = rest; msg.hidden = false; }
        if (r.data && r.data.recordPatrol) {
          state.patrol = r.data.recordPatrol.id;
          delete form.dataset.key;
          done.textContent = '已记录巡查 #' + state.patrol + '，下面的日记将归入这次巡查。';
          done.hidden = false;
        }
      } catch (e) {
        msg.textContent = e.message; msg.hidden = false;
      } finally {
        btn.disabled = false;
      }
    });
    card.append(h('h2', {}, '巡查'), h('p', { class: 'sub' }, '每天至少巡查一次网格。'), form);
  }

  // ---- diary entry ----
  async function entryCard() {
    const card = clear($('#entry-card'));
    const cat = h('select', { id: 'category' }, h('option', { value: '' }, '请选择'),
      state.categories.map((c) => h('option', { value: c.code }, c.label)));
    const when = h('input', { type: 'datetime-local', value: localTime(new Date()) });
    const heard = h('textarea', { id: 'heard', rows: 4, placeholder: '走访中听到的情况、群众反映的问题' });
    const help = h('textarea', { id: 'help', rows: 2, placeholder: '当场提供的帮助（选填）' });
    const follow = h('input', { type: 'checkbox', id: 'followUp' });
    const followNote = h('textarea', { id: 'followUpNote', rows: 2, placeholder: '需要跟进的事项', hidden: true });
    follow.addEventListener('change', () => { followNote.hidden = !follow.checked; });
    const chips = h('div', { class: 'chips', id: 'households', role: 'group', 'aria-label': '走访住户' }, h('span', { class: 'muted small' }, '正在加载住户…'));
    const msg = h('div', { class: 'notice error', role: 'alert', hidden: true });
    const ok = h('div', { class: 'ok-line', id: 'entry-done', hidden: true });
    const btn = h('button', { type: 'submit', class: 'btn block', id: 'save-entry' }, '保存日记');
    const form = h('form', { class: 'stack', novalidate: true },
      field('category', '类别', cat), field('visitedAt', '走访时间', when),
      h('div', { class: 'field', dataset: { field: 'households' } }, h('label', {}, '走访住户'), chips, h('div', { class: 'err', role: 'alert', hidden: true })),
      field('heard', '民情记录', heard), field('help', '提供帮助', help),
      h('label', { class: 'check' }, follow, '需要跟进'), h('div', { class: 'field', dataset: { field: 'followUpNote' } }, followNote, h('div', { class: 'err', hidden: true })),
      msg, btn, ok);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      btn.disabled = true;
      msg.hidden = true;
      ok.hidden = true;
      try {
        const r = await gql(M_ENTRY, { in: {
          grid: state.grid.code, patrol: state.patrol, visitedAt: isoTime(when.value),
          households: Array.from(state.households), category: cat.value, heard: heard.value,
          help: help.value.trim() || null, followUp: follow.checked, followUpNote: followNote.value.trim() || null,
          idempotencyKey: form.dataset.key || (form.dataset.key = GH.uuid()),
        } });
        const rest = showErrors(form, r.errors);
        if (rest) { msg.textContent = rest; msg.hidden = false; }
        if (r.data && r.data.recordDiaryEntry) {
          delete form.dataset.key;
          ok.textContent = '日记已保存。';
          ok.hidden = false;
          heard.value = ''; help.value = ''; followNote.value = ''; follow.checked = false; followNote.hidden = true;
          state.households.clear();
          for (const c of chips.querySelectorAll('.chip')) c.setAttribute('aria-pressed', 'false');
          recent();
        }
      } catch (e) {
        msg.textContent = e.message; msg.hidden = false;
      } finally {
        btn.disabled = false;
      }
    });
    card.append(h('h2', {}, '民情日记'), h('p', { class: 'sub' }, '记录走访中听到的情况和提供的帮助。'), form);

    // The grid's households, for picking the ones visited.
    const r = await gql(Q_HOUSEHOLDS, { w: state.grid.code });
    clear(chips);
    const seen = new Map();
    for (const p of (r.data && r.data.people.nodes) || []) {
      if (!seen.has(p.household.id)) seen.set(p.household.id, p.household.address);
    }
    if (!seen.size) chips.append(h('span', { class: 'muted small' }, '没有可选的住户。'));
    for (const [id, addr] of seen) {
      const short = addr.replace(/^.*?(\d+栋)/, '$1');
      const chip = h('button', { type: 'button', class: 'chip', 'aria-pressed': 'false', dataset: { household: id }, title: addr }, short);
      chip.addEventListener('click', () => {
        const on = !state.households.has(id);
        if (on) state.households.add(id); else state.households.delete(id);
        chip.setAttribute('aria-pressed', String(on));
      });
      chips.append(chip);
    }
  }

  // ---- recent entries ----
  async function recent() {
    const card = clear($('#recent-card'));
    card.append(h('h2', {}, '近期日记'));
    const r = await gql(Q_ENTRIES, { w: state.grid.code });
    if (r.errors.length) { card.append(h('div', { class: 'notice error' }, GH.errorText(r.errors[0]))); return; }
    const list = r.data.diaryEntries;
    if (!list.nodes.length) { card.append(h('p', { class: 'muted' }, '本网格还没有日记。')); return; }
    card.append(h('p', { class: 'sub' }, '共 ' + list.totalCount + ' 条'),
      h('ul', { class: 'list', id: 'entries' }, list.nodes.map((e) => h('li', { class: 'item', dataset: { entry: e.id } },
        h('div', { class: 'head' }, h('span', { class: 'badge wait' }, e.category.label),
          e.followUp ? h('span', { class: 'flag' }, '待跟进') : null,
          h('span', { class: 'when' }, GH.fmtTime(e.visitedAt))),
        h('div', { class: 'body' }, e.heard),
        e.help ? h('div', { class: 'meta' }, '帮助：' + e.help) : null,
        h('div', { class: 'meta' }, '走访 ' + e.households.length + ' 户' + (e.patrol ? ' · 巡查 #' + e.patrol : '') + ' · ' + e.worker)))));
  }
})();
