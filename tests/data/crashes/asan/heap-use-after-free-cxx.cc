#include <string>
#include <vector>

namespace inventory {
struct Item { int id; std::string name; };

class Bag {
public:
    Item *add(int id, const std::string &name) {
        items_.push_back(new Item{id, name});
        return items_.back();
    }
    void clear() {
        for (Item *it : items_) delete it;
        items_.clear();
    }
private:
    std::vector<Item *> items_;
};

int describe(const Item *item) { return item->id + static_cast<int>(item->name.size()); }
}  // namespace inventory

int main() {
    inventory::Bag bag;
    inventory::Item *sword = bag.add(7, "sword");
    bag.clear();
    return inventory::describe(sword);
}
