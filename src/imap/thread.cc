#include "imap/thread.h"

#include <algorithm>
#include <deque>
#include <unordered_map>

#include "common/ascii.h"

namespace replimail::imap {
namespace {

// A container of the threading algorithms: a message, or empty (a
// message-id only referred to), linked to its parent, first child and
// next sibling.
struct Node {
  SortMessage* msg = nullptr;
  Node* parent = nullptr;
  Node* child = nullptr;
  Node* next = nullptr;
};

using Criteria = std::vector<SortCriterion>;

const Criteria& by_date() {
  static const Criteria c = {{SortKey::kDate, false}, {SortKey::kSequence, false}};
  return c;
}

// Compares two containers by their message, or an empty one by its first
// child's.
int compare_nodes(const Node* a, const Node* b, const Criteria& criteria) {
  const SortMessage* ma = a->msg ? a->msg : a->child->msg;
  const SortMessage* mb = b->msg ? b->msg : b->child->msg;
  return compare_messages(*ma, *mb, criteria);
}

// Sorts the sibling list starting at `*first` (stable, as Cyrus's lsort).
void sort_siblings(Node** first, const Criteria& criteria) {
  std::vector<Node*> list;
  for (Node* n = *first; n; n = n->next) list.push_back(n);
  std::stable_sort(list.begin(), list.end(),
                   [&](const Node* a, const Node* b) { return compare_nodes(a, b, criteria) < 0; });
  *first = nullptr;
  for (auto it = list.rbegin(); it != list.rend(); ++it) {
    (*it)->next = *first;
    *first = *it;
  }
}

// Sorts every level below `root`, deepest first (an empty container sorts
// by its first child, so its children are sorted before it is). Iterative:
// a reply chain may be as deep as the mailbox is large.
void sort_tree(Node* root, const Criteria& criteria) {
  std::vector<Node*> order;  // pre-order of the nodes with children
  std::vector<Node*> stack = {root};
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    if (!n->child) continue;
    order.push_back(n);
    for (Node* c = n->child; c; c = c->next) stack.push_back(c);
  }
  for (auto it = order.rbegin(); it != order.rend(); ++it) sort_siblings(&(*it)->child, criteria);
}

uint32_t number_of(const SortMessage* m, bool by_uid) { return by_uid ? m->uid : m->seq; }

void print_threads(const Node* thread, bool by_uid, std::string* out) {
  for (; thread; thread = thread->next) {
    *out += '(';
    if (thread->msg && thread->msg->uid) {
      *out += std::to_string(number_of(thread->msg, by_uid));
      if (thread->child) *out += ' ';
    }
    for (const Node* child = thread->child; child;) {
      if (child->next) {  // siblings: each a branch of its own
        print_threads(child, by_uid, out);
        break;
      }
      *out += std::to_string(number_of(child->msg, by_uid));
      if (child->child) *out += ' ';
      child = child->child;
    }
    *out += ')';
  }
}

// `child` is `parent` or below it: found by walking up from `child` (the
// links are consistent while messages are linked), in O(depth) rather
// than a walk of the whole subtree.
bool is_descendant(const Node* parent, const Node* child) {
  for (const Node* n = child; n; n = n->parent) {
    if (n == parent) return true;
  }
  return false;
}

void adopt(Node* parent, Node* child) {
  child->parent = parent;
  child->next = parent->child;
  parent->child = child;
}

void orphan(Node* child) {
  Node* prev = nullptr;
  Node* cur = child->parent->child;
  while (cur && cur != child) {
    prev = cur;
    cur = cur->next;
  }
  if (!cur) return;
  if (!prev) {
    child->parent->child = child->next;
  } else {
    prev->next = child->next;
  }
  child->parent = child->next = nullptr;
}

// The nodes of one threading run; their addresses stay put.
struct Forest {
  std::deque<Node> nodes;
  Node* make() { return &nodes.emplace_back(); }
};

// RFC 5256 §3 step 1: containers linked by message-id and references.
// Returns the containers in the order they were made (step 2 gathers the
// parentless ones).
std::vector<Node*> link_messages(std::vector<SortMessage>& messages, Forest& forest) {
  std::unordered_map<std::string, Node*> ids;
  std::vector<Node*> made;
  auto lookup = [&](const std::string& id) -> Node* {
    auto it = ids.find(id);
    return it == ids.end() ? nullptr : it->second;
  };
  int dups = 0;
  for (SortMessage& msg : messages) {
    std::string id =
        msg.message_id.empty() ? "<Empty-ID: " + std::to_string(msg.seq) + ">" : msg.message_id;
    Node* cur = lookup(id);
    if (cur && cur->msg) {
      // A duplicate Message-ID: this one gets a container of its own.
      id += "-dup" + std::to_string(dups++);
      cur = nullptr;
    } else if (cur) {
      cur->msg = &msg;
    }
    if (!cur) {
      cur = forest.make();
      cur->msg = &msg;
      ids[id] = cur;
      made.push_back(cur);
    }
    Node* parent = nullptr;
    for (const std::string& ref : msg.references) {
      Node* r = lookup(ref);
      if (!r) {
        r = forest.make();
        ids[ref] = r;
        made.push_back(r);
      }
      if (!r->parent && parent && !is_descendant(r, parent)) adopt(parent, r);
      parent = r;
    }
    // A parent from an earlier message's references may be a truncated
    // chain's guess; this message's own last reference wins.
    if (cur->parent) orphan(cur);
    if (parent && !is_descendant(cur, parent)) adopt(parent, cur);
  }
  return made;
}

// Step 3: empty containers removed, their children promoted (at the root
// only when there is one child).
void prune(Node* parent) {
  Node* prev = nullptr;
  Node* cur = parent->child;
  Node* next = cur ? cur->next : nullptr;
  while (cur) {
    for (;;) {
      if (!cur->msg && !cur->child) {
        if (!prev) {
          parent->child = cur->next;
        } else {
          prev->next = cur->next;
        }
        cur = prev;
      } else if (!cur->msg && cur->child && (cur->parent || !cur->child->next)) {
        if (!prev) {
          parent->child = cur->child;
        } else {
          prev->next = cur->child;
        }
        Node* child = cur->child;
        for (;;) {
          child->parent = cur->parent;
          if (!child->next) break;
          child = child->next;
        }
        child->next = cur->next;
        next = cur->child;
        cur->child = cur->next = nullptr;
        cur = prev;
      } else if (cur->child) {
        prune(cur);
        if (!cur->msg && !cur->child) continue;  // emptied: look at it again
      }
      break;
    }
    prev = cur;
    cur = next;
    next = cur ? cur->next : nullptr;
  }
}

// REFERENCES step 4: the root set (and an empty root's children) by date.
void sort_root(Node* root) {
  for (Node* cur = root->child; cur; cur = cur->next) {
    if (!cur->msg) sort_siblings(&cur->child, by_date());
  }
  sort_siblings(&root->child, by_date());
}

const std::string& subject_of(const Node* n) {
  return n->msg ? n->msg->subject : n->child->msg->subject;
}

// REFERENCES step 5: roots with the same base subject gathered.
void group_subjects(Node* root, Forest& forest) {
  std::unordered_map<std::string, Node*> subjects;
  for (Node* cur = root->child; cur; cur = cur->next) {
    const std::string& subj = subject_of(cur);
    if (subj.empty()) continue;
    auto it = subjects.find(subj);
    Node* old = it == subjects.end() ? nullptr : it->second;
    if (!old || (!cur->msg && old->msg) ||
        (old->msg && old->msg->refwd && cur->msg && !cur->msg->refwd)) {
      subjects[subj] = cur;
    }
  }
  Node* prev = nullptr;
  Node* cur = root->child;
  Node* next = cur ? cur->next : nullptr;
  while (cur) {
    const std::string& subj = subject_of(cur);
    auto it = subj.empty() ? subjects.end() : subjects.find(subj);
    Node* old = it == subjects.end() ? nullptr : it->second;
    if (old && old != cur) {
      if (!prev) {
        root->child = cur->next;
      } else {
        prev->next = cur->next;
      }
      cur->next = nullptr;
      if (!old->msg && !cur->msg) {
        Node* last = old->child;
        while (last->next) last = last->next;
        last->next = cur->child;
        for (Node* c = cur->child; c; c = c->next) c->parent = old;
        cur->child = nullptr;
      } else if (!old->msg || (cur->msg && cur->msg->refwd && !old->msg->refwd)) {
        adopt(old, cur);
      } else {
        // Neither is the other's reply: both under a new empty container,
        // which keeps old's place (and its entry in the table).
        Node* copy = forest.make();
        copy->msg = old->msg;
        copy->child = old->child;
        for (Node* c = copy->child; c; c = c->next) c->parent = copy;
        cur->parent = old;
        copy->parent = old;
        old->msg = nullptr;
        old->child = cur;
        cur->next = copy;
      }
      cur = prev;
    }
    prev = cur;
    cur = next;
    next = next ? next->next : nullptr;
  }
}

// REFS: each thread's root carries its thread's newest arrival as its date.
void newest_arrival(const Node* thread, SortMessage* into) {
  if (thread->msg->internaldate > into->internaldate)
    into->internaldate = thread->msg->internaldate;
  for (const Node* c = thread->child; c; c = c->next) newest_arrival(c, into);
}

std::string thread_by_references(std::vector<SortMessage>& messages, bool refs, bool by_uid) {
  Forest forest;
  Node* root = forest.make();
  std::vector<Node*> made = link_messages(messages, forest);
  for (Node* n : made) {
    if (!n->parent) {
      n->next = root->child;
      root->child = n;
    }
  }
  prune(root);
  std::deque<SortMessage> dummies;
  if (refs) {
    for (Node* cur = root->child; cur; cur = cur->next) {
      if (!cur->msg) {
        cur->msg = &dummies.emplace_back();
        cur->msg->internaldate = cur->child->msg->internaldate;
      }
      cur->msg->sentdate = 0;  // the thread sorts by its newest arrival
      newest_arrival(cur, cur->msg);
    }
    static const Criteria c = {
        {SortKey::kDate, false}, {SortKey::kArrival, false}, {SortKey::kSequence, false}};
    sort_tree(root, c);
  } else {
    sort_root(root);
    group_subjects(root, forest);
    sort_tree(root, by_date());
  }
  std::string out;
  print_threads(root->child, by_uid, &out);
  return out;
}

std::string thread_by_subject(std::vector<SortMessage>& messages, bool by_uid) {
  static const Criteria c = {
      {SortKey::kSubject, false}, {SortKey::kDate, false}, {SortKey::kSequence, false}};
  sort_messages(messages, c);
  Forest forest;
  Node* head = forest.make();
  Node* parent = head;
  Node* cur = nullptr;
  Node* last = nullptr;
  const std::string* prev_subject = nullptr;
  for (SortMessage& msg : messages) {
    Node* n = forest.make();
    n->msg = &msg;
    if (!prev_subject || *prev_subject == msg.subject) {
      if (!parent->child) {
        last = parent->child = n;
        if (!cur) parent = cur = parent->child;
      } else {
        last->next = n;
        last = n;
      }
    } else {
      cur->next = n;
      parent = cur = n;
    }
    prev_subject = &msg.subject;
  }
  sort_tree(head, by_date());
  std::string out;
  print_threads(head->child, by_uid, &out);
  return out;
}

}  // namespace

std::optional<ThreadAlgorithm> thread_algorithm(std::string_view name) {
  if (iequals(name, "ORDEREDSUBJECT")) return ThreadAlgorithm::kOrderedSubject;
  if (iequals(name, "REFERENCES")) return ThreadAlgorithm::kReferences;
  if (iequals(name, "REFS")) return ThreadAlgorithm::kRefs;
  return std::nullopt;
}

std::string thread_messages(ThreadAlgorithm algorithm, std::vector<SortMessage> messages,
                            bool by_uid) {
  if (messages.empty()) return "";
  switch (algorithm) {
    case ThreadAlgorithm::kOrderedSubject:
      return thread_by_subject(messages, by_uid);
    case ThreadAlgorithm::kReferences:
      return thread_by_references(messages, false, by_uid);
    case ThreadAlgorithm::kRefs:
      return thread_by_references(messages, true, by_uid);
  }
  return "";
}

}  // namespace replimail::imap
