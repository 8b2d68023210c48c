// A tiny program that crashes with a null dereference after installing Breakpad's
// in-process exception handler, which writes a minidump into the folder given as argv[1].
// Built only by hand to make the committed fixture tests/data/dumps/breakpad_crash.dmp
// (see tests/data/dumps/README.md); the tests never need Breakpad itself.
#include <cstdio>

#include "client/linux/handler/exception_handler.h"

namespace game {

struct Player {
    int level;
};

class WorldSession {
public:
    explicit WorldSession(Player* player) : player_(player) {}
    int HandleLogin() { return ReadLevel() + 1; }

private:
    int ReadLevel() { return player_->level; }  // player_ is null: SIGSEGV here
    Player* player_;
};

}  // namespace game

static bool dumped(const google_breakpad::MinidumpDescriptor& descriptor, void*, bool succeeded) {
    std::printf("minidump: %s\n", descriptor.path());
    return succeeded;
}

int main(int argc, char** argv) {
    google_breakpad::MinidumpDescriptor descriptor(argc > 1 ? argv[1] : ".");
    google_breakpad::ExceptionHandler handler(descriptor, nullptr, dumped, nullptr, true, -1);
    game::WorldSession session(nullptr);
    return session.HandleLogin();
}
