// jllm's chat page: keeps the conversation here, sends it whole to /v1/chat/completions with "stream": true and
// shows the answer as its server-sent events arrive. Stop aborts the request; the server then frees the slot.
"use strict";

const $ = (id) => document.getElementById(id);
const conversation = [];
let controller = null;

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("api-key").value.trim();
  if (key) {
    h["Authorization"] = "Bearer " + key;
  }
  return h;
}

function addMessage(role, text) {
  const div = document.createElement("div");
  div.className = "message " + role;
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  div.appendChild(body);
  $("messages").appendChild(div);
  div.scrollIntoView({ block: "end" });
  return div;
}

function setMeta(div, text) {
  let meta = div.querySelector(".meta");
  if (!meta) {
    meta = document.createElement("span");
    meta.className = "meta";
    div.appendChild(meta);
  }
  meta.textContent = text;
}

function setBusy(busy) {
  $("send").disabled = busy;
  $("stop").disabled = !busy;
  $("status").textContent = busy ? "generating…" : "";
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) {
      return response.status + ": " + body.error.message;
    }
  } catch (e) {
    // not JSON
  }
  return "HTTP " + response.status;
}

async function send(text) {
  conversation.push({ role: "user", content: text });
  addMessage("user", text);
  const answer = addMessage("assistant", "");
  answer.classList.add("streaming");
  const textSpan = answer.querySelector(".text");
  const messages = [];
  const system = $("system").value.trim();
  if (system) {
    messages.push({ role: "system", content: system });
  }
  messages.push(...conversation);
  const request = {
    messages: messages,
    stream: true,
    stream_options: { include_usage: true },
    temperature: Number($("temperature").value),
    max_tokens: Number($("max-tokens").value),
  };
  controller = new AbortController();
  setBusy(true);
  const started = performance.now();
  let firstToken = 0;
  let stopped = false;
  let usage = null;
  let finish = null;
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(), body: JSON.stringify(request), signal: controller.signal,
    });
    if (!response.ok) {
      throw new Error(await errorText(response));
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let done = false;
    while (!done) {
      const chunk = await reader.read();
      if (chunk.done) {
        break;
      }
      buffer += decoder.decode(chunk.value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data: ")) {
            continue; // comments (keep-alives) and other fields
          }
          const data = line.slice(6);
          if (data === "[DONE]") {
            done = true;
            break;
          }
          const message = JSON.parse(data);
          if (message.error) {
            throw new Error(message.error.message);
          }
          if (message.usage) {
            usage = message.usage;
          }
          for (const choice of message.choices || []) {
            if (choice.delta && choice.delta.content) {
              if (!firstToken) {
                firstToken = performance.now();
              }
              textSpan.textContent += choice.delta.content;
              answer.scrollIntoView({ block: "end" });
            }
            if (choice.finish_reason) {
              finish = choice.finish_reason;
            }
          }
        }
      }
    }
  } catch (e) {
    if (e.name === "AbortError") {
      stopped = true;
    } else {
      answer.classList.add("error");
      textSpan.textContent += (textSpan.textContent ? "\n" : "") + e.message;
    }
  } finally {
    answer.classList.remove("streaming");
    controller = null;
    setBusy(false);
  }
  conversation.push({ role: "assistant", content: textSpan.textContent });
  const seconds = (performance.now() - started) / 1000;
  if (stopped) {
    setMeta(answer, "stopped after " + seconds.toFixed(1) + " s");
    answer.classList.add("stopped");
  } else if (usage) {
    const rate = firstToken && usage.completion_tokens > 1
      ? (usage.completion_tokens - 1) / ((performance.now() - firstToken) / 1000) : 0;
    setMeta(answer, usage.completion_tokens + " tokens, " + rate.toFixed(1) + " tokens/s, "
      + usage.prompt_tokens + " prompt tokens (" + usage.prompt_tokens_details.cached_tokens + " cached)"
      + (finish === "length" ? ", token limit reached" : ""));
    answer.classList.add("finished");
  }
}

async function loadModel() {
  try {
    const response = await fetch("/v1/models", { headers: headers() });
    if (!response.ok) {
      $("model").textContent = await errorText(response);
      return;
    }
    const body = await response.json();
    $("model").textContent = body.data[0].id;
  } catch (e) {
    $("model").textContent = "server unreachable";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("api-key").value = localStorage.getItem("jllm-api-key") || "";
  $("api-key").addEventListener("change", () => {
    localStorage.setItem("jllm-api-key", $("api-key").value.trim());
    loadModel();
  });
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("input").value.trim();
    if (!text || controller) {
      return;
    }
    $("input").value = "";
    send(text);
  });
  $("input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("stop").addEventListener("click", () => {
    if (controller) {
      controller.abort();
    }
  });
  $("new-chat").addEventListener("click", () => {
    if (controller) {
      controller.abort();
    }
    conversation.length = 0;
    $("messages").replaceChildren();
  });
  loadModel();
});
