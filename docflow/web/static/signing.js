// The leader's signature with the token on their own computer. The token agent
// (docflow token-agent) holds the key; this page asks docflow to prepare the documents
// (a signing batch), has the agent sign their data in one PIN session, hands the values
// back to docflow, which checks each before it embeds it, and shows the batch's progress.
"use strict";

async function answer(response) {
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON: say the status */ }
  if (!response.ok) {
    throw new Error((body && (body.detail || body.title)) || `HTTP ${response.status}`);
  }
  return body;
}

function chosen(form) {
  const hidden = form.querySelectorAll("input[type=hidden][name=document]");
  const boxes = document.querySelectorAll(`input[type=checkbox][form=${form.id}]:checked`);
  return [...hidden, ...boxes].map((input) => input.value);
}

async function sign(form) {
  const say = (text) => { form.querySelector("[role=status]").textContent = text; };
  const csrf = form.querySelector("[name=csrf_token]").value;
  const agent = form.dataset.agent;
  const documents = chosen(form);
  if (!documents.length) { say(form.dataset.sayNone); return; }
  const position = form.elements.position.value.trim();
  localStorage.setItem("docflow.position", position);
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    say(form.dataset.sayAgent);
    let certificate;
    try {
      certificate = await answer(await fetch(`${agent}/certificate`));
    } catch (error) {
      throw new Error(form.dataset.sayNoAgent);
    }
    say(form.dataset.sayPrepare);
    const batch = await answer(await fetch(form.dataset.batches, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({
        documents, kind: "leader", position,
        authority: form.elements.authority.value || null,
        certificate: certificate.certificate, chain: certificate.chain,
      }),
    }));
    const ready = batch.items.filter((item) => item.data_to_be_signed);
    if (ready.length) {
      say(form.dataset.sayToken);
      const signed = await answer(await fetch(`${agent}/sign`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ data_to_be_signed: ready.map((item) => item.data_to_be_signed) }),
      }));
      const values = {};
      ready.forEach((item, k) => { values[item.id] = signed.signature_values[k]; });
      say(form.dataset.saySend);
      await answer(await fetch(`${form.dataset.batches}/${batch.id}/values`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ values }),
      }));
    }
    window.location.assign(form.dataset.progress.replace("BATCH", batch.id));
  } catch (error) {
    say(`${form.dataset.sayFailed} ${error.message}`);
    button.disabled = false;
  }
}

for (const form of document.querySelectorAll("form[data-sign]")) {
  const remembered = localStorage.getItem("docflow.position");
  if (remembered && !form.elements.position.value) form.elements.position.value = remembered;
  form.addEventListener("submit", (event) => { event.preventDefault(); sign(form); });
}
