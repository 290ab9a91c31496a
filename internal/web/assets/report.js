// /report: the unified report (一表通). Sign in, pick a template, a grid and a
// person, correct the pre-filled form, submit once, watch each department's
// delivery.
(() => {
  const { h, $, $$, clear, gql, must, dept } = GH;

  // The purpose (X-Purpose, internal/policy/policy.yaml) each template is
  // filled under; a template not listed is filled with none.
  const PURPOSES = { home_visit: 'home_visit', floating_registration: 'floating_population' };
  const purposeOf = (t) => PURPOSES[t.id] || null;

  const STATUS = {
    PENDING: ['待投递', 'wait'],
    RETRYING: ['重试中', 'warn'],
    DELIVERED: ['已送达', 'ok'],
    FAILED: ['失败', 'bad'],
  };
  const FINAL = new Set(['DELIVERED', 'FAILED']);

  // What each validation rule means, in the words of the form.
  const RULES = {
    required: '此项为必填项',
    required_if: '根据其他字段的填写，此项必填',
    enum: '请从列表中选择',
    date: '日期格式应为 年-月-日',
    not_future: '日期不能晚于今天',
    int: '请输入整数',
    decimal: '请输入数字',
    range: '数值超出允许范围',
    bool: '请选择“是”或“否”',
    length: '内容过长',
    pattern: '格式不正确',
    idnumber: '证件号码无效，请核对',
    holder: '该证件的持证人不是本居民',
    format: '格式不正确',
    unknown: '表单中没有此字段，请重新加载表单',
    duplicate: '此字段重复提交',
    retired: '表单版本已停用，请重新加载表单',
    idempotency: '此表单已提交过不同的内容，请重新加载表单',
  };

  const Q_TEMPLATES = `{ reportTemplates { id version title subject fields { field department required } } }`;
  const Q_GRIDS = `query($level: GridLevel!, $within: ID, $after: String) {
    grids(level: $level, within: $within, first: 100, after: $after) {
      totalCount nodes { code name kind households } pageInfo { hasNextPage endCursor } } }`;
  const Q_PEOPLE = `query($within: ID!, $after: String) {
    people(within: $within, first: 100, after: $after) {
      totalCount nodes { id name idNumber gender birthDate relation household { address } }
      pageInfo { hasNextPage endCursor } } }`;
  const Q_DRAFT = `query($template: ID!, $subject: ID!) {
    reportDraft(template: $template, subject: $subject) {
      template version title subject
      fields { field label department section type required options { value label } value source asOf }
      unavailable { department message } } }`;
  const SUBMISSION = `id status template version subject createdAt
    deliveries { department status attempts lastError deliveredAt fields }`;
  const M_SUBMIT = `mutation($input: SubmitReportInput!) { submitReport(input: $input) { ${SUBMISSION} } }`;
  const Q_SUBMISSION = `query($id: ID!) { submission(id: $id) { ${SUBMISSION} } }`;

  const app = $('#app');
  const state = {
    templates: [], template: null,
    community: null, grid: null,
    people: [], peopleTotal: 0, peopleAfter: null,
    person: null,
    form: null, // {draft, key, fields: Map(key -> row), submitted: [keys], busy, done}
  };
  let pollTimer = 0;
  let signedIn = false;

  document.addEventListener('gh:unauthenticated', () => {
    if (!signedIn) return;
    signedIn = false;
    GH.setToken('');
    clearTimeout(pollTimer);
    start('登录已失效，请重新登录。');
  });
  start();

  async function start(message) {
    clear($('#account'));
    if (GH.token()) {
      try {
        await loadTemplates();
      } catch (e) {
        GH.setToken('');
        return start(e.message);
      }
    } else {
      await GH.signIn(app, { title: '登录一表通填报', check: loadTemplates, message });
    }
    signedIn = true;
    GH.account($('#account'), GH.token());
    clear(app);
    app.append(
      stepCard('template', 1, '选择表单'),
      stepCard('grid', 2, '选择网格'),
      stepCard('person', 3, '选择居民'),
      h('div', { id: 'form-area' }),
      h('div', { id: 'result-area' }));
    openTemplate();
  }

  async function loadTemplates() {
    const r = await gql(Q_TEMPLATES);
    if (r.errors.length) {
      const c = GH.code(r.errors[0]);
      if (c === 'FORBIDDEN') throw new Error('此令牌的角色只能查看汇总数据，不能填报。请使用社区工作者、网格员或街道管理员的令牌。');
      throw new Error(GH.errorText(r.errors[0]));
    }
    state.templates = r.data.reportTemplates;
  }

  // ---- steps ----
  function stepCard(name, no, title) {
    return h('section', { class: 'card step', id: 'step-' + name, hidden: true },
      h('h2', {}, h('span', { class: 'stepno' }, String(no)), h('span', { class: 'title' }, title),
        h('span', { class: 'chosen' }),
        h('button', { type: 'button', class: 'btn link change', hidden: true, onclick: () => change(name) }, '更改')),
      h('div', { class: 'body' }));
  }
  function step(name) { return $('#step-' + name); }
  function body(name) { return clear($('.body', step(name))); }
  function open(name) {
    const s = step(name);
    s.hidden = false;
    s.classList.remove('done');
    $('.chosen', s).textContent = '';
    $('.change', s).hidden = true;
  }
  function done(name, chosen) {
    const s = step(name);
    s.classList.add('done');
    $('.chosen', s).textContent = chosen;
    $('.change', s).hidden = false;
  }
  function hide(name) { step(name).hidden = true; }
  function change(name) {
    if (state.form && !state.form.done && changedFields().length && !confirm('表单中的修改尚未提交，确定放弃吗？')) return;
    clearTimeout(pollTimer);
    if (name === 'template') { resetForm(); return openTemplate(); }
    if (name === 'grid') { resetForm(); state.person = null; hide('person'); return openGrid(); }
    if (name === 'person') { resetForm(); return openPerson(); }
  }
  function resetForm() {
    state.form = null;
    clear($('#form-area'));
    clear($('#result-area'));
  }

  // 1. the template
  function openTemplate() {
    open('template');
    const b = body('template');
    if (!state.templates.length) { b.append(h('p', { class: 'muted' }, '暂无可填报的表单。')); return; }
    b.append(h('div', { class: 'choices' }, state.templates.map((t) => {
      const depts = [...new Set(t.fields.map((f) => f.department))].map(dept).join('、');
      return h('button', {
        type: 'button', class: 'choice', dataset: { template: t.id },
        onclick: () => chooseTemplate(t),
      }, h('span', { class: 'title' }, t.title),
      h('span', { class: 'desc' }, `共 ${t.fields.length} 项 · 涉及${depts}`));
    })));
  }
  function chooseTemplate(t) {
    state.template = t;
    done('template', t.title);
    if (state.person) return loadForm();
    if (state.grid) return openPerson();
    openGrid();
  }

  // 2. the grid: community, then responsibility grid
  async function allUnits(level, within) {
    const out = [];
    let after = null;
    for (let i = 0; i < 50; i++) {
      const d = await must(Q_GRIDS, { level, within, after });
      out.push(...d.grids.nodes);
      if (!d.grids.pageInfo.hasNextPage) break;
      after = d.grids.pageInfo.endCursor;
    }
    return out;
  }
  async function openGrid() {
    open('grid');
    const b = body('grid');
    const status = h('p', { class: 'muted small' }, h('span', { class: 'spinner' }), ' 正在读取社区…');
    const community = h('select', { id: 'community', 'aria-label': '社区' });
    const grid = h('select', { id: 'grid', 'aria-label': '网格', disabled: true },
      h('option', { value: '' }, '请先选择社区'));
    b.append(h('div', { class: 'row' },
      h('div', {}, h('label', { for: 'community' }, '社区'), community),
      h('div', {}, h('label', { for: 'grid' }, '网格'), grid)), status);
    let communities;
    try {
      communities = await allUnits('COMMUNITY', null);
    } catch (e) {
      status.className = 'notice error';
      status.textContent = e.message;
      return;
    }
    status.remove();
    if (!communities.length) {
      b.append(h('p', { class: 'notice warn' }, '此令牌的范围内没有社区。'));
      return;
    }
    GH.append(community, [h('option', { value: '' }, `请选择社区（共 ${communities.length} 个）`)],
      communities.map((c) => h('option', { value: c.code }, `${c.name}（${c.code}）`)));
    const grids = new Map();
    community.addEventListener('change', async () => {
      const code = community.value;
      clear(grid).append(h('option', { value: '' }, code ? '正在读取网格…' : '请先选择社区'));
      grid.disabled = true;
      if (!code) return;
      state.community = communities.find((c) => c.code === code);
      let units;
      try {
        units = await allUnits('GRID', code);
      } catch (e) {
        clear(grid).append(h('option', { value: '' }, e.message));
        return;
      }
      if (community.value !== code) return; // changed meanwhile
      grids.clear();
      units.forEach((u) => grids.set(u.code, u));
      GH.append(clear(grid), [h('option', { value: '' }, units.length ? `请选择网格（共 ${units.length} 个）` : '此社区没有可见的网格')],
        units.map((u) => h('option', { value: u.code },
          `${u.name} · ${u.kind === 'UNIT' ? '单位网格' : u.households + ' 户'}`)));
      grid.disabled = !units.length;
      if (units.length === 1) { grid.value = units[0].code; grid.dispatchEvent(new Event('change')); }
    });
    grid.addEventListener('change', () => {
      const g = grids.get(grid.value);
      if (!g) return;
      state.grid = g;
      done('grid', g.name);
      openPerson();
    });
    if (communities.length === 1) { community.value = communities[0].code; community.dispatchEvent(new Event('change')); }
  }

  // 3. the person
  async function openPerson() {
    open('person');
    state.people = [];
    state.peopleAfter = null;
    const b = body('person');
    const search = h('input', { type: 'search', id: 'person-search', placeholder: '按姓名或地址筛选已加载的居民', 'aria-label': '筛选居民', enterkeyhint: 'search' });
    const list = h('div', { class: 'people', id: 'people' });
    const count = h('p', { class: 'count', id: 'people-count' });
    const more = h('button', { type: 'button', class: 'btn secondary block more', id: 'people-more', hidden: true }, '加载更多');
    b.append(h('div', { class: 'search' }, search), list, count, more);
    const draw = () => {
      const q = search.value.trim();
      const shown = state.people.filter((p) => !q || p.name.includes(q) || (p.household && p.household.address.includes(q)));
      GH.append(clear(list), shown.map(personButton));
      if (q && !shown.length) list.append(h('p', { class: 'muted' }, '已加载的居民中没有匹配的。'));
      count.textContent = `已加载 ${state.people.length} / ${state.peopleTotal} 人` + (q ? `，匹配 ${shown.length} 人` : '');
      more.hidden = !state.peopleAfter;
    };
    const load = async () => {
      more.disabled = true;
      more.textContent = '正在加载…';
      try {
        // No purpose: the list shows masked ID numbers.
        const d = await must(Q_PEOPLE, { within: state.grid.code, after: state.peopleAfter });
        state.people.push(...d.people.nodes);
        state.peopleTotal = d.people.totalCount;
        state.peopleAfter = d.people.pageInfo.hasNextPage ? d.people.pageInfo.endCursor : null;
        draw();
      } catch (e) {
        count.textContent = e.message;
      } finally {
        more.disabled = false;
        more.textContent = '加载更多';
      }
    };
    search.addEventListener('input', draw);
    more.addEventListener('click', load);
    list.append(h('p', { class: 'muted small' }, h('span', { class: 'spinner' }), ' 正在读取居民…'));
    await load();
  }
  function age(birth) {
    const b = new Date(birth + 'T00:00:00');
    if (isNaN(b)) return '';
    const n = new Date();
    let a = n.getFullYear() - b.getFullYear();
    if (n.getMonth() < b.getMonth() || (n.getMonth() === b.getMonth() && n.getDate() < b.getDate())) a--;
    return a + '岁';
  }
  function personButton(p) {
    const gender = p.gender === 'M' ? '男' : p.gender === 'F' ? '女' : '';
    return h('button', { type: 'button', class: 'person', dataset: { personId: p.id }, onclick: () => choosePerson(p) },
      h('span', {}, h('span', { class: 'p-name' }, p.name), h('span', { class: 'p-tags' }, [gender, age(p.birthDate), p.relation].filter(Boolean).join(' · '))),
      h('span', { class: 'p-id mono' }, p.idNumber),
      h('span', { class: 'p-addr' }, p.household ? p.household.address : ''));
  }
  function choosePerson(p) {
    state.person = p;
    done('person', `${p.name} · ${p.idNumber}`);
    loadForm();
  }

  // 4. the form
  async function loadForm() {
    resetForm();
    const area = $('#form-area');
    area.append(h('section', { class: 'card' }, h('p', { class: 'muted' }, h('span', { class: 'spinner' }), ' 正在从各部门读取预填数据…')));
    const t = state.template, p = state.person;
    const r = await gql(Q_DRAFT, { template: t.id, subject: p.id }, { purpose: purposeOf(t) }).catch((e) => ({ errors: [{ message: e.message }] }));
    clear(area);
    if (!r.data || !r.data.reportDraft) {
      area.append(h('section', { class: 'card' },
        h('div', { class: 'notice error', role: 'alert' }, GH.errorText(r.errors[0])),
        h('div', { class: 'actions' }, h('button', { type: 'button', class: 'btn secondary', onclick: loadForm }, '重试'))));
      return;
    }
    renderForm(r.data.reportDraft);
  }

  function renderForm(draft) {
    const area = clear($('#form-area'));
    // One key per form load: a double click or a retry sends the same key,
    // and the hub answers with the submission it already stored.
    const form = state.form = { draft, key: GH.uuid(), rows: new Map(), submitted: [], busy: false, done: false };
    const p = state.person;
    const el = h('form', { class: 'card', id: 'report-form', novalidate: true, dataset: { key: form.key } });
    el.append(
      h('h2', {}, h('span', { class: 'stepno' }, '4'), draft.title),
      h('div', { class: 'subject' },
        h('span', { class: 'name' }, p.name),
        h('span', { class: 'idn mono' }, p.idNumber),
        h('span', { class: 'addr' }, [p.relation, p.household && p.household.address].filter(Boolean).join(' · '))),
      h('p', { class: 'legend-req' }, '已按各部门现有数据预填，请核对更正。', h('span', { class: 'req' }, '*'), ' 为必填项。'));
    if (draft.unavailable.length) {
      el.append(h('div', { class: 'notice warn', role: 'status', id: 'unavailable' },
        '以下部门暂时无法读取，相关字段未预填：',
        draft.unavailable.map((u) => dept(u.department)).join('、'), '。仍可填写并提交，恢复后将自动投递。'));
    }
    const down = new Set(draft.unavailable.map((u) => u.department));
    const sections = new Map();
    for (const f of draft.fields) {
      if (!sections.has(f.section)) sections.set(f.section, []);
      sections.get(f.section).push(f);
    }
    for (const [title, fields] of sections) {
      el.append(h('fieldset', { class: 'section' }, h('legend', {}, title), fields.map((f) => fieldRow(f, down))));
    }
    const general = h('div', { class: 'notice error', id: 'form-error', role: 'alert', hidden: true });
    const changes = h('span', { class: 'changes', id: 'changes' }, '未修改');
    const submit = h('button', { type: 'submit', class: 'btn', id: 'submit' }, '提交');
    el.append(general, h('div', { class: 'submitbar' }, changes, submit));
    el.addEventListener('submit', (ev) => { ev.preventDefault(); submitForm(); });
    area.append(el);
    el.scrollIntoView({ block: 'start', behavior: 'smooth' });
  }

  function fieldRow(f, down) {
    const id = 'in-' + f.field.replace(/[^A-Za-z0-9_-]/g, '-');
    const { control, orig, masked } = makeControl(f, id);
    const meta = h('div', { class: 'meta' });
    if (f.asOf) {
      meta.append('来源：', h('span', { class: 'src' }, dept(f.source || f.department)), ' · ', GH.fmtTime(f.asOf));
      if (f.value === null || f.value === undefined) meta.append(' · 暂无数据');
    } else if (down.has(f.department)) {
      meta.append(h('span', { class: 'src' }, dept(f.department)), ' 暂时无法读取');
    } else {
      // Nothing read for it: a field that adds (a new case, a visit note).
      meta.append('报送：', h('span', { class: 'src' }, dept(f.department)));
    }
    const row = h('div', { class: 'field', dataset: { field: f.field, type: f.type } },
      h('label', { for: id }, f.label, f.required ? h('span', { class: 'req', title: '必填' }, '*') : null, h('span', { class: 'tag' }, '已修改')),
      control,
      masked ? h('div', { class: 'note' }, '已脱敏显示；如需更正，请填写完整的新值。') : null,
      meta,
      h('div', { class: 'err', role: 'alert' }));
    state.form.rows.set(f.field, { f, row, control, orig, masked });
    const onEdit = () => {
      row.classList.toggle('changed', isChanged(f.field));
      row.classList.remove('invalid');
      updateChanges();
    };
    control.addEventListener('input', onEdit);
    control.addEventListener('change', onEdit);
    return row;
  }

  function makeControl(f, id) {
    const value = f.value === null || f.value === undefined ? '' : String(f.value);
    const common = { id, name: f.field, required: f.required || null };
    let control;
    let masked = false;
    const select = (opts) => {
      const s = h('select', common, h('option', { value: '' }, f.required ? '请选择' : '未填写'),
        opts.map(([v, l]) => h('option', { value: v }, l)));
      if (value && !opts.some(([v]) => v === value)) s.append(h('option', { value }, value + '（现有值）'));
      return s;
    };
    switch (f.type) {
      case 'enum':
        control = select(f.options.map((o) => [o.value, o.label]));
        break;
      case 'bool':
        control = select([['true', '是'], ['false', '否']]);
        break;
      case 'date':
        control = h('input', { ...common, type: 'date' });
        break;
      case 'int':
        control = h('input', { ...common, type: 'number', step: '1', inputmode: 'numeric' });
        break;
      case 'decimal':
        control = h('input', { ...common, type: 'number', step: 'any', inputmode: 'decimal' });
        break;
      case 'idnumber':
        control = h('input', { ...common, type: 'text', class: 'mono', autocapitalize: 'characters', autocomplete: 'off', spellcheck: 'false' });
        break;
      default:
        if (/\.(note|description)$/.test(f.field)) control = h('textarea', { ...common, rows: 3 });
        else if (/phone$/i.test(f.field)) control = h('input', { ...common, type: 'tel', inputmode: 'tel', autocomplete: 'off' });
        else control = h('input', { ...common, type: 'text', autocomplete: 'off' });
    }
    if (value.includes('*')) {
      // A masked value cannot be sent back: show it as a hint, start empty.
      masked = true;
      control.placeholder = value;
    } else {
      control.value = value;
    }
    // The original is what the control shows, so an untouched field is
    // never taken for a change.
    return { control, orig: control.value.trim(), masked };
  }

  const current = (r) => r.control.value.trim();
  function isChanged(key) {
    const r = state.form.rows.get(key);
    return current(r) !== r.orig;
  }
  function changedFields() {
    if (!state.form) return [];
    return [...state.form.rows.keys()].filter(isChanged);
  }
  function updateChanges() {
    const n = changedFields().length;
    $('#changes').textContent = n ? `已修改 ${n} 项` : '未修改';
  }

  function setError(key, text, detail) {
    const r = state.form.rows.get(key);
    if (!r) return false;
    r.row.classList.add('invalid');
    const err = clear($('.err', r.row));
    err.append(text);
    // The hub's message names the field again ("现有子女数: must be at most 15").
    if (detail) detail = detail.replace(new RegExp('^' + r.f.label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '[:：]?\\s*'), '');
    if (detail) err.append(h('span', { class: 'detail' }, detail));
    return true;
  }
  function clearErrors() {
    $$('.field.invalid').forEach((r) => r.classList.remove('invalid'));
    const g = $('#form-error');
    g.hidden = true;
    clear(g);
  }
  function showGeneral(...parts) {
    const g = $('#form-error');
    clear(g).append(...parts);
    g.hidden = false;
  }
  function focusFirstError() {
    const first = $('.field.invalid');
    const target = first || $('#form-error');
    if (!target) return;
    target.scrollIntoView({ block: 'center', behavior: 'smooth' });
    if (first) $('input, select, textarea', first).focus({ preventScroll: true });
  }

  // fieldOf maps an error's extensions.field back to a form field: an index
  // into the values sent ("values[3].value"), or "values" for a required field
  // left out, whose message names the field's key.
  function fieldOf(e) {
    const path = (e.extensions && e.extensions.field) || '';
    const m = /^values\[(\d+)\]/.exec(path);
    if (m) return state.form.submitted[Number(m[1])] || null;
    if (path === 'values') {
      const k = /\(([a-z_]+\.[A-Za-z0-9_.]+)\)/.exec(e.message || '');
      if (k) return k[1];
    }
    return null;
  }

  async function submitForm() {
    const form = state.form;
    if (!form || form.busy || form.done) return;
    clearErrors();
    // Required fields the form can check itself.
    let missing = 0;
    for (const [key, r] of form.rows) {
      if (r.f.required && !current(r) && !r.masked) { setError(key, RULES.required); missing++; }
    }
    if (missing) { focusFirstError(); return; }

    // Only what changed is sent: an untouched field keeps the department's
    // value, and a masked one is never written back masked.
    const values = changedFields().map((key) => ({ field: key, value: current(form.rows.get(key)) }));
    form.submitted = values.map((v) => v.field);
    const input = {
      template: form.draft.template, version: form.draft.version, subject: form.draft.subject,
      idempotencyKey: form.key, values,
    };
    const btn = $('#submit');
    form.busy = true;
    btn.disabled = true;
    btn.textContent = '正在提交…';
    let r;
    try {
      r = await gql(M_SUBMIT, { input }, { purpose: purposeOf(state.template) });
    } catch (e) {
      showGeneral(e.message, '。可以再次点击“提交”：同一份表单不会重复提交。');
      return unbusy();
    }
    if (r.errors.length || !r.data || !r.data.submitReport) {
      for (const e of r.errors) {
        const key = fieldOf(e);
        const rule = e.extensions && e.extensions.rule;
        if (key && setError(key, RULES[rule] || '填写有误', e.message)) continue;
        if (rule === 'retired' || rule === 'idempotency') {
          showGeneral(RULES[rule], ' ', h('button', { type: 'button', class: 'btn link', onclick: loadForm }, '重新加载表单'));
        } else {
          showGeneral(GH.errorText(e));
        }
      }
      if (!r.errors.length) showGeneral('提交失败，请重试。');
      focusFirstError();
      return unbusy();
    }
    form.done = true;
    lockForm();
    showSubmission(r.data.submitReport);
  }
  function unbusy() {
    state.form.busy = false;
    const btn = $('#submit');
    btn.disabled = false;
    btn.textContent = '提交';
  }
  function lockForm() {
    const el = $('#report-form');
    $$('input, select, textarea', el).forEach((c) => { c.disabled = true; });
    $('.submitbar', el).remove();
  }

  // 5. the deliveries
  function showSubmission(sub) {
    const area = clear($('#result-area'));
    const labels = new Map(state.form.draft.fields.map((f) => [f.field, f.label]));
    const coreChanged = state.form.submitted.filter((k) => k.startsWith('core.')).map((k) => labels.get(k));
    const card = h('section', { class: 'card', id: 'result', dataset: { submission: sub.id } });
    area.append(card);
    const draw = (s) => {
      const [text, cls] = STATUS[s.status] || [s.status, ''];
      const finished = s.deliveries.every((d) => FINAL.has(d.status));
      clear(card).append(
        h('div', { class: 'result-head' },
          h('span', { class: 'stepno' }, '5'), h('h2', {}, '已提交，投递各部门'),
          h('span', { class: 'badge ' + cls, id: 'overall', dataset: { status: s.status } }, text)),
        h('p', { class: 'sub small muted' }, `提交于 ${GH.fmtTime(s.createdAt)} · 编号 `, h('span', { class: 'mono', title: s.id }, s.id.slice(0, 8))),
        coreChanged.length ? h('p', { class: 'notice info' }, '基本信息（', coreChanged.join('、'), '）已写入人口主索引。') : null,
        s.deliveries.length
          ? h('ul', { class: 'deliveries', id: 'deliveries' }, s.deliveries.map((d) => deliveryItem(d, labels)))
          : h('p', { class: 'notice info', id: 'no-deliveries' }, '各部门的数据没有变化，无需投递。'),
        h('p', { class: 'progress', id: 'progress' }, finished
          ? (s.deliveries.some((d) => d.status === 'FAILED') ? '投递结束：有部门投递失败，管理员可以重新投递。' : '全部投递完成。')
          : [h('span', { class: 'spinner' }), ' 正在投递，每秒刷新…']),
        h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'btn', id: 'again', onclick: () => { clearTimeout(pollTimer); loadForm(); } }, '为该居民再填一份'),
          h('button', { type: 'button', class: 'btn secondary', id: 'next-person', onclick: () => { clearTimeout(pollTimer); resetForm(); openPerson(); } }, '选择其他居民')));
      return finished;
    };
    let failures = 0;
    const tick = async () => {
      let s = null;
      try {
        const r = await gql(Q_SUBMISSION, { id: sub.id });
        s = r.data && r.data.submission;
        if (r.errors.length && !s) throw new Error(GH.errorText(r.errors[0]));
        failures = 0;
      } catch (e) {
        failures++;
        $('#progress').textContent = `刷新失败（${e.message}），稍后重试…`;
      }
      if (!card.isConnected) return;
      if (s && draw(s)) return;
      pollTimer = setTimeout(tick, Math.min(1000 * 2 ** Math.max(0, failures - 1), 15000));
    };
    if (!draw(sub)) pollTimer = setTimeout(tick, 1000);
    card.scrollIntoView({ block: 'start', behavior: 'smooth' });
  }
  function deliveryItem(d, labels) {
    const [text, cls] = STATUS[d.status] || [d.status, ''];
    const meta = [`尝试 ${d.attempts} 次`];
    if (d.deliveredAt) meta.push('送达 ' + GH.fmtTime(d.deliveredAt));
    if (d.fields.length) meta.push('字段：' + d.fields.map((k) => labels.get(k) || k).join('、'));
    return h('li', { class: 'delivery', dataset: { department: d.department, status: d.status } },
      h('div', { class: 'd-head' }, h('span', { class: 'd-name' }, dept(d.department)), h('span', { class: 'badge ' + cls }, text)),
      h('div', { class: 'd-meta' }, meta.join(' · ')),
      d.lastError ? h('div', { class: 'd-error' }, '最近错误：' + d.lastError) : null);
  }
})();
