#pragma once
#include <string>
#include <vector>

struct Member {
    std::string name;
    int level;
    bool online;
};

class Guild {
public:
    void Join(const std::string& name, int level, bool online);
    // Average level of the members who are online right now.
    int AverageOnlineLevel() const;
    std::size_t Size() const { return members_.size(); }

private:
    std::vector<Member> members_;
};
