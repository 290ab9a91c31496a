// /event: 事件上报. Sign in, describe what was found (class, category, place,
// photos), send it once; follow each event's delivery and its case's stage.
(() => {
  const { h, $, clear, gql } = GH;
  const { field, showErrors } = WORK;

  const Q_SETUP = `{ eventSettings { department maxPhotos maxPhotoBytes photoTypes }
    eventKinds { value label categories } caseStages { value label } }`;
  const Q_GRID = `query($c: ID!) { grid(code: $c) { code name geometry } }`;
  const EVENT = `id gridCode outsideOwnGrid kind category description address status lastError caseNumber
    stage { value label } deadline closedOn overdue photos { n url } createdAt`;
  const Q_EVENTS = `query($w: ID!) { gridEvents(within: $w, first: 20) { totalCount nodes { ${EVENT} } } }`;
  const M_REPORT = `mutation($in: ReportEventInput!) { reportEvent(input: $in) { ${EVENT} } }`;
  const STATUS = { PENDING: ['待送达', 'wait'], RETRYING: ['重试中', 'warn'], DELIVERED: ['已送达', 'ok'], FAILED: ['送达失败', 'bad'] };

  const app = $('#app');
  const state = { settings: null, kinds: [], stages: [], grids: [], grid: null, files: [], events: new Map() };

  WORK.start(app, '登录事件上报', async () => {
    const r = await gql(Q_SETUP);
    if (r.errors.length) throw new Error(GH.errorText(r.errors[0]));
    if (!r.data.eventSettings) throw new Error('此系统没有配置接收事件的部门。');
    state.settings = r.data.eventSettings;
    state.kinds = r.data.eventKinds;
    state.stages = r.data.caseStages;
    state.grids = await WORK.grids();
    if (!state.grids.length) throw new Error('此令牌没有可上报的网格：请使用网格员或社区工作者的令牌。');
  }, ready);

  function ready() {
    app.append(
      WORK.gridCard(state.grids, pick),
      h('section', { class: 'card', id: 'report-card' }),
      h('section', { class: 'card', id: 'events-card' }));
    pick(state.grids[0].code);
  }

  async function pick(code) {
    state.grid = state.grids.find((g) => g.code === code);
    const r = await gql(Q_GRID, { c: code });
    const ring = r.data && r.data.grid && r.data.grid.geometry && r.data.grid.geometry.coordinates[0];
    state.center = ring ? [ring.reduce((s, p) => s + p[0], 0) / ring.length, ring.reduce((s, p) => s + p[1], 0) / ring.length] : null;
    reportCard();
    loadEvents();
  }

  // ---- the report ----
  function reportCard() {
    const card = clear($('#report-card'));
    const kind = h('select', { id: 'kind' }, state.kinds.map((k) => h('option', { value: k.value }, k.label)));
    const cat = h('select', { id: 'category' });
    const fillCats = () => {
      const k = state.kinds.find((x) => x.value === kind.value);
      GH.append(clear(cat), h('option', { value: '' }, '请选择'), k.categories.map((c) => h('option', { value: c }, c)));
    };
    kind.addEventListener('change', fillCats);
    fillCats();
    const desc = h('textarea', { id: 'description', rows: 3, placeholder: '发现的问题、位置特征' });
    const c = state.center || [0, 0];
    const lon = h('input', { id: 'lon', type: 'number', step: 'any', inputmode: 'decimal', value: c[0].toFixed(6) });
    const lat = h('input', { id: 'lat', type: 'number', step: 'any', inputmode: 'decimal', value: c[1].toFixed(6) });
    const here = h('button', { type: 'button', class: 'btn secondary', id: 'here' }, '使用当前位置');
    here.addEventListener('click', () => {
      if (!navigator.geolocation) return;
      navigator.geolocation.getCurrentPosition((p) => { lon.value = p.coords.longitude.toFixed(6); lat.value = p.coords.latitude.toFixed(6); });
    });
    const address = h('input', { id: 'address', placeholder: '如：长江西路12号门前（选填）' });
    const s = state.settings;
    const files = h('input', { id: 'photos', type: 'file', multiple: true, accept: s.photoTypes.join(','), capture: 'environment' });
    const thumbs = h('div', { class: 'photos', id: 'thumbs' });
    files.addEventListener('change', () => {
      state.files = Array.from(files.files);
      GH.append(clear(thumbs), state.files.map((f) => h('img', { src: URL.createObjectURL(f), alt: f.name })));
    });
    const msg = h('div', { class: 'notice error', role: 'alert', hidden: true });
    const ok = h('div', { class: 'ok-line', id: 'report-done', hidden: true });
    const btn = h('button', { type: 'submit', class: 'btn block', id: 'send' }, '上报');
    const form = h('form', { class: 'stack', novalidate: true },
      h('div', { class: 'row' }, field('kind', '类型', kind), field('category', '类别', cat)),
      field('description', '问题描述', desc),
      h('div', { class: 'row' }, field('lon', '经度', lon), field('lat', '纬度', lat)), here,
      field('address', '地址', address),
      field('photos', '照片（最多 ' + s.maxPhotos + ' 张，每张不超过 ' + Math.round(s.maxPhotoBytes / 1048576) + ' MB）', files), thumbs,
      msg, btn, ok);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      btn.disabled = true;
      msg.hidden = true;
      ok.hidden = true;
      try {
        const r = await WORK.upload(M_REPORT, { in: {
          kind: kind.value, category: cat.value, description: desc.value, lon: Number(lon.value), lat: Number(lat.value),
          address: address.value.trim() || null, idempotencyKey: form.dataset.key || (form.dataset.key = GH.uuid()),
        } }, 'in.photos', state.files);
        const rest = showErrors(form, r.errors);
        if (rest) { msg.textContent = rest; msg.hidden = false; }
        const e = r.data && r.data.reportEvent;
        if (e) {
          delete form.dataset.key;
          ok.textContent = '已上报，正在送达' + GH.dept(s.department) + (e.outsideOwnGrid ? '（位置不在本人网格内，已标注）' : '') + '。';
          ok.hidden = false;
          desc.value = ''; address.value = ''; files.value = ''; state.files = []; clear(thumbs);
          state.events.set(e.id, e);
          drawEvents();
        }
      } catch (e) {
        msg.textContent = e.message; msg.hidden = false;
      } finally {
        btn.disabled = false;
      }
    });
    card.append(h('h2', {}, '上报事件'), h('p', { class: 'sub' }, '发现的事件和部件问题送' + GH.dept(s.department) + '处置，并跟踪办理阶段。'), form);
  }

  // ---- the events ----
  async function loadEvents() {
    const r = await gql(Q_EVENTS, { w: state.grid.code });
    state.events.clear();
    for (const e of (r.data && r.data.gridEvents.nodes) || []) state.events.set(e.id, e);
    drawEvents();
  }

  function drawEvents() {
    const card = clear($('#events-card'));
    card.append(h('h2', {}, '事件办理', h('span', { class: 'live', id: 'live' }, '实时')));
    const list = Array.from(state.events.values()).sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
    if (!list.length) { card.append(h('p', { class: 'muted' }, '还没有上报的事件。')); return; }
    card.append(h('ul', { class: 'list', id: 'events' }, list.map(eventItem)));
  }

  function eventItem(e) {
    const [label, cls] = STATUS[e.status] || [e.status, ''];
    const at = e.stage ? state.stages.findIndex((s) => s.value === e.stage.value) : -1;
    const photos = h('div', { class: 'photos' });
    for (const p of e.photos) {
      WORK.photo(p.url).then((src) => photos.append(h('img', { src, alt: '照片 ' + p.n }))).catch(() => {});
    }
    return h('li', { class: 'item', dataset: { event: e.id } },
      h('div', { class: 'head' }, h('span', { class: 'title' }, e.category),
        h('span', { class: 'badge ' + cls, dataset: { status: e.status } }, label),
        e.overdue ? h('span', { class: 'flag' }, '已超期') : null,
        e.outsideOwnGrid ? h('span', { class: 'flag' }, '本人网格外') : null,
        h('span', { class: 'when' }, GH.fmtTime(e.createdAt))),
      h('div', { class: 'body' }, e.description),
      h('div', { class: 'meta' }, (e.caseNumber ? '案件编号 ' + e.caseNumber : '待生成案件编号') +
        (e.deadline ? ' · 处置时限 ' + e.deadline : '') + (e.address ? ' · ' + e.address : '')),
      h('div', { class: 'stages', 'aria-label': '办理阶段' }, state.stages.map((s, i) =>
        h('span', { class: i < at ? 'done' : i === at ? 'now' : '' }, s.label))),
      e.lastError && e.status !== 'DELIVERED' ? h('div', { class: 'notice warn' }, e.lastError) : null,
      photos);
  }
})();
