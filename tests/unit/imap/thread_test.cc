#include "imap/thread.h"

#include <gtest/gtest.h>

namespace replimail::imap {
namespace {

// A message for threading: seq, Date (0: none), base subject, re/fwd
// count, Message-ID and references.
SortMessage m(uint32_t seq, int64_t date, std::string subject, int refwd, std::string id,
              std::vector<std::string> refs = {}) {
  SortMessage s;
  s.seq = seq;
  s.uid = 100 + seq;
  s.internaldate = 5000 + seq;
  s.sentdate = date;
  s.subject = std::move(subject);
  s.refwd = refwd;
  s.message_id = std::move(id);
  s.references = std::move(refs);
  return s;
}

TEST(ThreadAlgorithmName, CaseInsensitive) {
  EXPECT_EQ(thread_algorithm("references"), ThreadAlgorithm::kReferences);
  EXPECT_EQ(thread_algorithm("OrderedSubject"), ThreadAlgorithm::kOrderedSubject);
  EXPECT_EQ(thread_algorithm("REFS"), ThreadAlgorithm::kRefs);
  EXPECT_EQ(thread_algorithm("X-FOO"), std::nullopt);
}

TEST(OrderedSubject, GroupsBySubjectRootsAndChildrenByDate) {
  std::vector<SortMessage> v = {m(1, 300, "A", 0, "<1@x>"), m(2, 100, "B", 0, "<2@x>"),
                                m(3, 200, "A", 1, "<3@x>"), m(4, 400, "B", 1, "<4@x>"),
                                m(5, 50, "C", 0, "<5@x>"),  m(6, 500, "A", 2, "<6@x>")};
  // A: 3 (200) root, children 1, 6; B: 2 root, child 4; C: 5 alone.
  EXPECT_EQ(thread_messages(ThreadAlgorithm::kOrderedSubject, v, false), "(5)(2 4)(3 (1)(6))");
  EXPECT_EQ(thread_messages(ThreadAlgorithm::kOrderedSubject, v, true),
            "(105)(102 104)(103 (101)(106))");
  EXPECT_EQ(thread_messages(ThreadAlgorithm::kOrderedSubject, {}, false), "");
}

TEST(References, LinksChainsAndMissingParents) {
  std::vector<SortMessage> v = {
      m(1, 100, "TOPIC", 0, "<a@x>"),
      m(2, 200, "TOPIC", 1, "<b@x>", {"<a@x>"}),
      m(3, 300, "TOPIC", 1, "<c@x>", {"<a@x>", "<b@x>"}),
      m(4, 250, "TOPIC", 1, "<d@x>", {"<a@x>"}),
      // Two replies to a message that is not there: an empty parent.
      m(5, 150, "OTHER", 1, "<e@x>", {"<gone@x>"}),
      m(6, 160, "OTHER", 1, "<f@x>", {"<gone@x>"}),
      // One reply to a missing message: promoted to the root.
      m(7, 50, "LONE", 1, "<g@x>", {"<gone2@x>"}),
  };
  EXPECT_EQ(thread_messages(ThreadAlgorithm::kReferences, v, false), "(7)(1 (2 3)(4))((5)(6))");
}

TEST(References, GroupsRootsBySubject) {
  std::vector<SortMessage> v = {
      m(1, 100, "PLAN", 0, "<a@x>"),
      m(2, 200, "PLAN", 1, "<b@x>"),  // no references, but Re: the same subject
      m(3, 300, "PLAN", 0, "<c@x>"),  // neither is a reply: both under a dummy
      m(4, 400, "", 0, "<d@x>"),
      m(5, 500, "", 0, "<e@x>"),  // empty subjects are never grouped
  };
  EXPECT_EQ(thread_messages(ThreadAlgorithm::kReferences, v, false), "((1 2)(3))(4)(5)");
}

TEST(References, DuplicateIdsLoopsAndMissingIds) {
  std::vector<SortMessage> v = {
      m(1, 100, "S1", 0, "<a@x>", {"<b@x>"}),
      m(2, 200, "S2", 0, "<b@x>", {"<a@x>"}),  // a loop: not linked back
      m(3, 300, "S3", 0, "<a@x>"),             // a duplicate id: its own container
      m(4, 400, "S4", 0, ""),                  // no id
      m(5, 500, "S5", 0, "", {"<b@x>"}),
  };
  EXPECT_EQ(thread_messages(ThreadAlgorithm::kReferences, v, false), "(2 (1)(5))(3)(4)");
}

TEST(Refs, ThreadsByNewestArrivalNoSubjectGrouping) {
  std::vector<SortMessage> v = {
      m(1, 100, "X", 0, "<a@x>"),
      m(2, 200, "X", 1, "<b@x>"),  // same subject, no reference: not grouped
      m(3, 50, "X", 1, "<c@x>", {"<a@x>"}),
  };
  // Thread (1 3) has arrivals 5001 and 5003; thread 2 has 5002: 2 first.
  EXPECT_EQ(thread_messages(ThreadAlgorithm::kRefs, v, false), "(2)(1 3)");
  EXPECT_EQ(thread_messages(ThreadAlgorithm::kReferences, v, false), "(1 (3)(2))");
}

TEST(References, DeepReplyChainIsOneThread) {
  // Each message replies to the one before: one thread as deep as the
  // mailbox, printed as one chain.
  std::vector<SortMessage> v;
  std::string expected = "(";
  for (uint32_t i = 1; i <= 3000; ++i) {
    std::vector<std::string> refs;
    if (i > 1) refs.push_back("<" + std::to_string(i - 1) + "@x>");
    v.push_back(m(i, 1000 + i, "CHAIN", i > 1, "<" + std::to_string(i) + "@x>", refs));
    expected += (i > 1 ? " " : "") + std::to_string(i);
  }
  expected += ")";
  EXPECT_EQ(thread_messages(ThreadAlgorithm::kReferences, v, false), expected);
  EXPECT_EQ(thread_messages(ThreadAlgorithm::kRefs, v, false), expected);
}

}  // namespace
}  // namespace replimail::imap
